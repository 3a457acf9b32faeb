// What one client's requests can make mlx-guard believe about the model server, which every
// client shares: the breaker, the poison list and the restart budget. Each attack runs at the
// defaults, beside an ordinary client whose answers are the measure.
import { describe, expect, it } from 'vitest';
import { chatBody, describeFigures, figures, innocentClient, startGuard } from '../support/hostile.js';
import { post, rawRequest } from '../support/raw-http.js';
import { until } from '../support/processes.js';
import { startSidecar } from '../support/sidecar.js';

const MARKER = 'CONTENT-THE-SERVER-CANNOT-TAKE';

async function status(port: number): Promise<{ modelServer: { state: string; restarts: Record<string, number>; coolingDownUntil: string | null }; breakers: { inference: { state: string } }; poison: Array<{ digest: string }> }> {
  return JSON.parse((await rawRequest(port, 'GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).body);
}

/** Sends `body` as a client that honours a 503 while the model server restarts: again after a pause, up to `withinMs`; the first other answer. */
async function sendPatiently(port: number, body: string, withinMs = 60_000): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const answer = await rawRequest(port, post('/v1/chat/completions', body), withinMs);
    if (answer.status !== 503 || !answer.body.includes('model_server_unavailable') || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('one client cannot spend what all clients share', () => {
  it('100 requests whose content makes the server drop them, within a minute: the breaker stays closed, /health 200, the ordinary client gets every answer', async () => {
    const guard = await startGuard(['--drop-on-marker', MARKER]);
    const alone = await innocentClient(guard.port, 3_000);
    const attack = (async () => {
      const answers: number[] = [];
      // Distinct requests (the same one twice would be refused as poison at once), 5 a second.
      await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          await new Promise((resolve) => setTimeout(resolve, i * 200));
          answers.push((await rawRequest(guard.port, post('/v1/chat/completions', chatBody(`${MARKER} ${i}`)), 30_000)).status);
        }),
      );
      return answers;
    })();
    // An ordinary client that asks now and then: most failing requests find nobody else served in
    // their second, as when a client alone makes the server fail.
    const attacked = await innocentClient(guard.port, 24_000, { pauseMs: 1_500 });
    const answers = await attack;
    console.log(describeFigures('innocent client alone', alone));
    console.log(describeFigures('innocent client beside 100 requests the server drops', attacked));
    expect(attacked.filter((seen) => seen.status !== 200)).toEqual([]);
    expect(figures(attacked).max).toBeLessThan(1_000);
    // Each failing request learns of its failure: the server's error, or its own poison refusal.
    expect(answers.filter((s) => s !== 502 && s !== 422)).toEqual([]);
    expect((await status(guard.port)).breakers.inference.state).toBe('closed');
  }, 90_000);

  it('a real outage (every request dropped, the canary too) still opens the breaker after as many failures as before', async () => {
    const { url, faults, sidecar } = await startSidecar({}, [], { atDefaults: true });
    const port = Number(new URL(url).port);
    await faults({ drop_rate: 1 });
    const started = performance.now();
    const seen: number[] = [];
    for (let i = 0; i < 20 && sidecar.inferenceBreaker.getState() === 'closed'; i++) {
      seen.push((await rawRequest(port, post('/v1/chat/completions', chatBody(`outage ${i}`)), 30_000)).status);
    }
    const ms = performance.now() - started;
    console.log(`a real outage opened the breaker after ${seen.length} failed requests, ${ms.toFixed(0)} ms`);
    expect(sidecar.inferenceBreaker.getState()).toBe('open');
    // The default policy opens at the fifth failure in a row; a canary per failure second adds no failure let through.
    expect(seen).toEqual([502, 502, 502, 502, 502]);
    expect((await rawRequest(port, post('/v1/chat/completions', chatBody('after'))).then((a) => a.status))).toBe(503);
  }, 60_000);

  it('an attacker crashing the server again and again during a victim\'s request and its replay never gets the victim marked poison', async () => {
    const guard = await startGuard(['--crash-on-marker', MARKER, '--token-delay-ms', '100']);
    const victimBody = chatBody('the victim asks a long question', { max_tokens: 20 });
    const victim = rawRequest(guard.port, post('/v1/chat/completions', victimBody), 120_000);
    // The attacker: a distinct crashing request every half second for 8 s, the first while the victim runs.
    const attacker = Promise.all(
      Array.from({ length: 16 }, async (_, i) => {
        await new Promise((resolve) => setTimeout(resolve, 300 + i * 500));
        return (await rawRequest(guard.port, post('/v1/chat/completions', chatBody(`${MARKER} ${i}`)), 120_000).catch(() => undefined))?.status;
      }),
    );
    const answer = await victim;
    await attacker;
    console.log(`the victim: ${answer.status} ${answer.status === 200 ? '' : answer.body.slice(0, 200)}`);
    // 200, or an error that says to retry; never poison.
    expect([200, 503]).toContain(answer.status);
    if (answer.status === 503) expect(answer.headers['retry-after']).toBeDefined();
    const after = await status(guard.port);
    expect(after.poison.length).toBeGreaterThan(0);
    // The victim's own request is served again; the attacker's are the ones refused.
    const again = await sendPatiently(guard.port, victimBody, 120_000);
    expect(again.status).toBe(200);
  }, 180_000);

  it('20 distinct crashing requests in a minute leave mlx-guard serving ordinary requests afterwards, its restart budget whole', async () => {
    const guard = await startGuard(['--crash-on-marker', MARKER]);
    const answers: number[] = [];
    const started = performance.now();
    for (let i = 0; i < 20; i++) answers.push((await sendPatiently(guard.port, chatBody(`${MARKER} ${i}`))).status);
    console.log(`20 distinct crashing requests, each sent once the server was back: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    // Each crashed the server twice, the second time alone: poison, its restarts given back.
    expect(answers).toEqual(Array(20).fill(422));
    // The last one's crash is still being recovered from: a restart, not a cool-down.
    await until('the model server back', async () => ((await rawRequest(guard.port, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).status === 200 ? true : undefined), 30_000);
    const after = await innocentClient(guard.port, 3_000);
    console.log(describeFigures('innocent client after 20 distinct crashing requests', after));
    expect(after.filter((seen) => seen.status !== 200)).toEqual([]);
    const { modelServer } = await status(guard.port);
    expect(modelServer).toMatchObject({ state: 'ready', coolingDownUntil: null });
    expect(modelServer.restarts.metal_abort).toBe(40);
  }, 180_000);
});
