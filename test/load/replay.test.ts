// Nothing lost across a restart, at default settings under 8 clients: what the client has not
// seen is replayed; a request that kills the server twice is named and refused, and only it.
import { describe, expect, it } from 'vitest';
import { until } from '../support/processes.js';
import { runLoad, summarise, type Outcome } from '../support/load.js';
import { startSidecar } from '../support/sidecar.js';

const LOAD = { clients: 8, durationMs: 12_000, clientDeadlineMs: 20_000, maxRequests: 100_000 };
const TEST_TIMEOUT_MS = 60_000;
const atDefaults = (standinArgs: string[] = [], overrides = {}) => startSidecar(overrides, standinArgs, { atDefaults: true });

async function chat(url: string, content: string, stream = false): Promise<{ status: number; body: string; replayed: string | null }> {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    body: JSON.stringify({ messages: [{ role: 'user', content }], max_tokens: 30, stream }),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, body: await response.text(), replayed: response.headers.get('x-mlx-guard-replayed') };
}

const failedWithoutContent = (outcomes: Outcome[]) => outcomes.filter((o) => (o.result !== 200 || o.code !== undefined) && !o.contentBeforeError);

describe('replay across a restart, at default settings', () => {
  it('a one-off crash: every request whose client had seen nothing ends 200 with its whole answer, marked as replayed', async () => {
    const { url, sidecar, faults } = await atDefaults(['--token-delay-ms', '20']);
    // The next prompt to reach the generation loop crashes it; the restart clears the fault.
    const outcomes = await (async () => {
      const running = runLoad(url, LOAD);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      await faults({ crash_on_marker: '<|im_start|>' });
      return running;
    })();
    const context = JSON.stringify({ summary: summarise(outcomes), restarts: sidecar.supervisor.status.restarts });
    expect(sidecar.supervisor.status.restarts, context).toEqual({ metal_abort: 1 });
    // Admitted before the crash: only streams that had shown content may fail, with the error event.
    const admitted = outcomes.filter((o) => o.code !== 'model_server_unavailable');
    expect(failedWithoutContent(admitted), context).toEqual([]);
    for (const o of admitted.filter((o) => o.contentBeforeError)) expect(o.code, JSON.stringify(o)).toBe('model_server_restarting');
    // Arriving while the server restarted: a fast refusal that says when to come back (issue 10).
    for (const o of outcomes.filter((o) => o.code === 'model_server_unavailable')) {
      expect(o.ms, JSON.stringify(o)).toBeLessThan(100);
      expect(Number(o.retryAfter), JSON.stringify(o)).toBeGreaterThanOrEqual(1);
    }
    const replayed = outcomes.filter((o) => o.replayed === '1');
    expect(replayed.length, context).toBeGreaterThan(0);
    expect(replayed.every((o) => o.result === 200 && o.code === undefined), context).toBe(true);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(Number(/^mlx_guard_replays_total (\d+)/m.exec(metrics)?.[1]), context).toBeGreaterThanOrEqual(replayed.length);
  }, TEST_TIMEOUT_MS);

  it('a poison request among innocent ones: at most two crashes, a clear refusal for it, every innocent request served, not fatal', async () => {
    const { url, sidecar } = await atDefaults(['--crash-on-marker', 'POISON', '--token-delay-ms', '20']);
    const innocent = runLoad(url, { ...LOAD, clients: 7, streaming: false });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const first = await chat(url, 'a prompt with POISON in it');
    // The same request again (a client's retry) is refused at once, without reaching the server.
    const started = Date.now();
    const again = await chat(url, 'a prompt with POISON in it');
    const refusedInMs = Date.now() - started;
    const outcomes = await innocent;
    const status = (await (await fetch(`${url}/status`)).json()) as { poison: Array<{ kind: string; cause: string }>; modelServer: { state: string } };
    const context = JSON.stringify({ first, summary: summarise(outcomes), restarts: sidecar.supervisor.status.restarts, status });

    expect(first.status, context).toBe(422);
    expect(JSON.parse(first.body), context).toMatchObject({
      error: { code: 'poison_request', message: expect.stringContaining('ran out of GPU memory twice; mlx-guard will not send it again for 10 min. To get an answer, shorten the context or lower max_tokens') },
    });
    expect(again.status).toBe(422);
    expect(refusedInMs).toBeLessThan(100);
    expect(sidecar.supervisor.status.restarts, context).toEqual({ metal_abort: 2 });
    // Every innocent request admitted was served; those arriving during a restart were refused at once.
    const admitted = outcomes.filter((o) => o.code !== 'model_server_unavailable');
    expect(summarise(admitted), context).toEqual({ ok: admitted.length });
    expect(admitted.length, context).toBeGreaterThan(outcomes.length / 2);
    expect(status.poison, context).toMatchObject([{ kind: 'crashes', cause: 'metal_abort' }]);
    expect(status.modelServer.state).toBe('ready');
  }, TEST_TIMEOUT_MS);

  it('a stream that had already sent content when the crash came ends with an error event and is not replayed', async () => {
    const { url, sidecar, faults } = await atDefaults(['--token-delay-ms', '100']);
    const answer = chat(url, 'tell me more', true);
    await new Promise((resolve) => setTimeout(resolve, 800));
    await faults({ crash_after_tokens: 1 });
    const { status, body, replayed } = await answer;
    expect(status).toBe(200);
    expect(body).toMatch(/"content":"[^"]+"/);
    expect(body).toContain('"code":"model_server_restarting"');
    expect(body).not.toContain('data: [DONE]');
    expect(replayed).toBeNull();
    await until('the restart', () => (sidecar.supervisor.status.restarts.metal_abort ? true : undefined));
  }, TEST_TIMEOUT_MS);

  it('a replayed request past its deadline gets a timeout error, not a late answer', async () => {
    // The restart takes 5 s to load; the request's whole deadline is 3 s (a test setting).
    const { url, faults } = await atDefaults(['--load-time-ms', '5000'], { inference: { deadlineMs: 3_000 } });
    await faults({ crash_on_marker: 'doomed' });
    const started = Date.now();
    const answer = await chat(url, 'a doomed request');
    const took = Date.now() - started;
    expect(answer.status).toBe(504);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'upstream_timeout', message: expect.stringContaining("did not come back within this request's deadline") } });
    expect(took).toBeGreaterThanOrEqual(2_900);
    expect(took).toBeLessThan(4_000);
  }, TEST_TIMEOUT_MS);

  it('one request that makes the server drop it never counts against the shared breaker (a canary shows the server healthy); its repeats are refused, the breaker stays closed', async () => {
    const { url, sidecar } = await atDefaults(['--drop-on-marker', 'BREAKS-IT']);
    const innocent = runLoad(url, { ...LOAD, clients: 4, durationMs: 6_000 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const answers: number[] = [];
    for (let i = 0; i < 10; i++) answers.push((await chat(url, 'this one BREAKS-IT')).status);
    const outcomes = await innocent;
    const context = JSON.stringify({ answers, summary: summarise(outcomes), breaker: sidecar.inferenceBreaker.getMetrics() });
    // Failed twice while the server was healthy (its own failures: the breaker heard of neither), then refused at once.
    expect(answers, context).toEqual([502, 502, 422, 422, 422, 422, 422, 422, 422, 422]);
    expect(sidecar.inferenceBreaker.getMetrics().failures, context).toBe(0);
    expect(sidecar.inferenceBreaker.getState()).toBe('closed');
    expect(summarise(outcomes), context).toEqual({ ok: outcomes.length });
  }, TEST_TIMEOUT_MS);
});
