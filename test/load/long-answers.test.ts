// No false alarm on the traffic a local model really sees, at default settings and in real time:
// answers that run for minutes, a serial server, a long prefill, an idle laptop, a long answer as
// the breaker's half-open trial. And the other side: a wedged generation is still caught.
// The cases run side by side (each with its own mlx-guard), so the file takes about 3.5 minutes.
import { describe, expect, it, type TestContext } from 'vitest';
import { until } from '../support/processes.js';
import { startSidecar, type TestSidecar } from '../support/sidecar.js';

const MINUTES = 60_000;
const atDefaults = (context: TestContext, standinArgs: string[] = []) => startSidecar({}, standinArgs, { atDefaults: true, onTestFinished: (stop) => context.onTestFinished(stop) });

interface Answer {
  status: number;
  complete: boolean;
  ms: number;
  text: string;
}

/** One chat request; resolves once the first piece of its answer arrived (for a stream, its first comment or event). */
async function begin(url: string, stream: boolean): Promise<{ rest: Promise<Answer> }> {
  const started = Date.now();
  const body = JSON.stringify({ messages: [{ role: 'user', content: 'tell me a long story' }], max_tokens: 400, stream });
  const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body, signal: AbortSignal.timeout(5 * MINUTES) });
  const pieces = response.body![Symbol.asyncIterator]();
  const first = await pieces.next();
  const rest = (async () => {
    const decoder = new TextDecoder();
    let text = '';
    for (let piece = first; !piece.done; piece = await pieces.next()) text += decoder.decode(piece.value, { stream: true });
    text += decoder.decode();
    const complete = stream ? text.includes('data: [DONE]') && !text.includes('"error"') : response.status === 200 && text.includes('"finish_reason"');
    return { status: response.status, complete, ms: Date.now() - started, text };
  })();
  return { rest };
}

/** One chat request, read to its end; its status, whether it completed, and its length. */
const ask = async (url: string, stream: boolean): Promise<Answer> => (await begin(url, stream)).rest;

function expectUntouched({ sidecar }: TestSidecar): void {
  expect(sidecar.supervisor.status.restarts).toEqual({});
  expect(sidecar.inferenceBreaker.getMetrics().stateChanges).toEqual([]);
  expect(sidecar.supervisor.state).toBe('ready');
}

/** Completion requests the stand-in served, from its own access log lines. */
const completionsServed = ({ sidecar }: TestSidecar) => sidecar.supervisor.recentLogLines.filter((l) => l.includes('"POST /v1/chat/completions')).length;

describe.concurrent('long answers at default settings', () => {
  it('a 3-minute streamed answer ends 200, with no restart and no breaker change', async (context) => {
    const guard = await atDefaults(context, ['--token-delay-ms', '1000', '--reasoning-tokens', '170']);
    const answer = await ask(guard.url, true);
    expect(answer).toMatchObject({ status: 200, complete: true });
    expect(answer.ms).toBeGreaterThanOrEqual(3 * MINUTES);
    expectUntouched(guard);
  }, 5 * MINUTES);

  it('a 3-minute non-streaming answer on a serial server (one request at a time) ends 200, with no restart', async (context) => {
    const guard = await atDefaults(context, ['--serial', '--token-delay-ms', '1000', '--reasoning-tokens', '170']);
    const answer = await ask(guard.url, false);
    expect(answer).toMatchObject({ status: 200, complete: true });
    expect(answer.ms).toBeGreaterThanOrEqual(3 * MINUTES);
    expectUntouched(guard);
  }, 5 * MINUTES);

  it('a 90 s prefill with keepalives, streamed and not, ends 200, with no restart', async (context) => {
    const guard = await atDefaults(context);
    await guard.faults({ prefill_ms: 90_000 });
    const [streamed, whole] = await Promise.all([ask(guard.url, true), ask(guard.url, false)]);
    expect(streamed).toMatchObject({ status: 200, complete: true });
    expect(whole).toMatchObject({ status: 200, complete: true });
    // One prefill chunk at a time: the two prompts take turns, so each waits at least its own 90 s.
    expect(Math.min(streamed.ms, whole.ms)).toBeGreaterThanOrEqual(90_000);
    expect(streamed.text).toContain(': keepalive');
    expectUntouched(guard);
  }, 5 * MINUTES);

  it('an idle server gets no generation canary in 60 s', async (context) => {
    const guard = await atDefaults(context);
    // The start-up canary's access line may reach the log just after the server was declared ready.
    const before = await until('the start-up canary in the log', () => (completionsServed(guard) >= 1 ? completionsServed(guard) : undefined));
    await new Promise((resolve) => setTimeout(resolve, 60_000));
    expect(completionsServed(guard)).toBe(before);
    expectUntouched(guard);
  }, 3 * MINUTES);

  it('a long answer as the half-open trial closes the breaker at its first progress, and ends 200', async (context) => {
    const guard = await atDefaults(context, ['--token-delay-ms', '1000', '--reasoning-tokens', '70']);
    const { sidecar } = guard;
    await guard.faults({ error_rate: 1 });
    // Five failures open the breaker (the default threshold); the answers are 500s at once.
    for (let i = 0; i < 5; i++) expect((await ask(guard.url, false)).status).toBe(502);
    expect(sidecar.inferenceBreaker.getState()).toBe('open');
    await guard.faults({ error_rate: 0 });
    // 30 s later (the default recovery timeout) one trial is let through: a 70+ s answer, longer
    // than any half-open wait, which must not count it as hung.
    await new Promise((resolve) => setTimeout(resolve, 30_500));
    expect(sidecar.inferenceBreaker.getState()).toBe('half_open');
    const trial = ask(guard.url, true);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(sidecar.inferenceBreaker.getState()).toBe('closed');
    const answer = await trial;
    expect(answer).toMatchObject({ status: 200, complete: true });
    expect(answer.ms).toBeGreaterThan(70_000);
    expect(sidecar.inferenceBreaker.getState()).toBe('closed');
    expect(sidecar.inferenceBreaker.getMetrics().stateChanges.map((c) => c.toState)).toEqual(['open', 'half_open', 'closed']);
    expect(sidecar.supervisor.status.restarts).toEqual({});
  }, 5 * MINUTES);

  it('a wedged generation (/health answers, no tokens) is caught after the 60 s stall window; the server restarts and its requests are replayed', async (context) => {
    const guard = await atDefaults(context);
    await guard.faults({ hang_after_prefill: true });
    const started = Date.now();
    // The stream first, and the whole request once the stream has shown its prefill keepalive:
    // the server hangs after that prefill, so the whole request waits in its queue, and the
    // stream is known to have begun (sent together, either could reach the server first).
    const streaming = await begin(guard.url, true);
    const [streamed, whole] = await Promise.all([streaming.rest, ask(guard.url, false)]);
    const waited = Date.now() - started;
    // Detected at 60 s; then a restart and the two replays, one after the other.
    expect(waited).toBeGreaterThanOrEqual(60_000);
    expect(waited).toBeLessThan(75_000);
    const seen = JSON.stringify({ whole, streamed, status: guard.sidecar.supervisor.status });
    // The whole answer had shown nothing: it is replayed on the restarted server (issue 13).
    expect(whole, seen).toMatchObject({ status: 200, complete: true });
    // The stream had shown only keepalives when the server was lost: replayed as well.
    expect(streamed, seen).toMatchObject({ status: 200, complete: true });
    expect(streamed.text).toContain('mlx-guard: sent again (1) after a model server restart');
    expect(guard.sidecar.supervisor.status.restarts).toEqual({ wedged: 1 });
    await until('ready again', () => (guard.sidecar.supervisor.state === 'ready' ? true : undefined), 10_000);
    expect((await ask(guard.url, false)).complete).toBe(true);
  }, 5 * MINUTES);
});
