// Faults under concurrent load: every request ends within its deadline with a success or a clear
// error (zero hung), the breaker answers fast 503s while it is open, the model server is restarted
// and service comes back; nothing is left running (the process tracker and afterEach see to it).
import { describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config.js';
import { isAlive, until } from '../support/processes.js';
import { runLoad, summarise, type Outcome } from '../support/load.js';
import type { Sidecar } from '../../src/sidecar.js';
import { startSidecar } from '../support/sidecar.js';

const fastFailing: ConfigInput = {
  inference: { headersTimeoutMs: 1_000, idleTimeoutMs: 1_000, deadlineMs: 4_000 },
  breakers: { inference: { failureThreshold: 3, recoveryTimeoutMs: 500 } },
  supervisor: {
    liveness: { intervalMs: 300, timeoutMs: 600, failureThreshold: 2 },
    restart: { whenOpenForMs: 400, initialDelayMs: 100, jitter: 0, maxRestarts: 10, windowMs: 60_000 },
  },
};

/** The load: 16 clients for 20 s, half of them streaming. */
const LOAD = { clients: 16, durationMs: 20_000, clientDeadlineMs: 8_000, maxRequests: 100_000 };
const TEST_TIMEOUT_MS = 60_000;
const load = (url: string) => runLoad(url, LOAD);

/** The load run, with a fault brought in half a second after it started. */
async function loadWithFault(url: string, inject: () => unknown): Promise<Outcome[]> {
  const running = load(url);
  await new Promise((resolve) => setTimeout(resolve, 500));
  await inject();
  return running;
}

function expectNoneHung(outcomes: Outcome[]): void {
  const summary = summarise(outcomes);
  expect(outcomes.filter((o) => o.result === 'hung'), JSON.stringify(summary)).toEqual([]);
  expect(outcomes.filter((o) => o.result === 'network'), JSON.stringify(summary)).toEqual([]);
  for (const o of outcomes) if (o.result !== 200) expect([502, 503, 504], JSON.stringify(o)).toContain(o.result);
}

/** Once the restart is long done, the service is whole again: every request of the run's last seconds succeeded. */
function expectAllOkAtTheEnd(outcomes: Outcome[], sidecar: Sidecar, lastMs = 3_000): void {
  const end = Math.max(...outcomes.map((o) => o.startedAt));
  const tail = outcomes.filter((o) => o.startedAt > end - lastMs);
  const context = JSON.stringify({ tail: summarise(tail), all: summarise(outcomes), modelServer: sidecar.supervisor.status });
  expect(tail.length, context).toBeGreaterThan(LOAD.clients);
  expect(summarise(tail), context).toEqual({ ok: tail.length });
}

describe('resilience under load', () => {
  it('crash mid-stream: restarted, no request hung, service back', async () => {
    const { url, sidecar, faults } = await startSidecar(fastFailing);
    const firstPid = sidecar.supervisor.status.pid!;
    const outcomes = await loadWithFault(url, () => faults({ crash_after_tokens: 3 }));
    expectNoneHung(outcomes);
    expect(sidecar.supervisor.status.restarts.metal_abort).toBeGreaterThanOrEqual(1);
    expect(isAlive(firstPid)).toBe(false);
    expectAllOkAtTheEnd(outcomes, sidecar);
  }, TEST_TIMEOUT_MS);

  it('zombie (health OK, completions hang): restarted at once, no request hung', async () => {
    const { url, sidecar, faults } = await startSidecar(fastFailing);
    const outcomes = await loadWithFault(url, () => faults({ zombie: true }));
    expectNoneHung(outcomes);
    expect(sidecar.supervisor.status.restarts.zombie).toBeGreaterThanOrEqual(1);
    expectAllOkAtTheEnd(outcomes, sidecar);
  }, TEST_TIMEOUT_MS);

  it('SIGSTOP hang: requests time out into failures, the breaker opens and fails fast, the server is restarted', async () => {
    const { url, sidecar } = await startSidecar(fastFailing);
    const outcomes = await loadWithFault(url, () => process.kill(-sidecar.supervisor.status.pid!, 'SIGSTOP'));
    expectNoneHung(outcomes);
    await until('a restart', () => ((sidecar.supervisor.status.restarts.liveness ?? 0) + (sidecar.supervisor.status.restarts.breaker_open ?? 0) >= 1 ? true : undefined), 10_000).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; status: ${JSON.stringify(sidecar.supervisor.status)}; load: ${JSON.stringify(summarise(outcomes))}`);
    });
    const fast503 = outcomes.filter((o) => o.result === 503 && o.code === 'breaker_open');
    expect(fast503.length).toBeGreaterThan(0);
    expect(Math.max(...fast503.map((o) => o.ms))).toBeLessThan(500);
    expectAllOkAtTheEnd(outcomes, sidecar);
  }, TEST_TIMEOUT_MS);

  it('a 5xx storm: the breaker opens and answers 503 at once; the restart clears it', async () => {
    const { url, sidecar, faults } = await startSidecar(fastFailing);
    await faults({ error_rate: 1 });
    const outcomes = await load(url);
    expectNoneHung(outcomes);
    const summary = summarise(outcomes);
    expect(summary['503:breaker_open'], JSON.stringify(summary)).toBeGreaterThan(0);
    expect(sidecar.supervisor.status.restarts.breaker_open).toBeGreaterThanOrEqual(1);
    expectAllOkAtTheEnd(outcomes, sidecar);
  }, TEST_TIMEOUT_MS);

  it('slow tokens: slow but whole answers, no restart, no breaker trip', async () => {
    const { url, sidecar, faults } = await startSidecar(fastFailing);
    await faults({ token_delay_ms: 60 });
    const outcomes = await load(url);
    expectNoneHung(outcomes);
    expect(summarise(outcomes)).toEqual({ ok: outcomes.length });
    expect(sidecar.supervisor.status.restarts).toEqual({});
    expect(sidecar.inferenceBreaker.getMetrics().stateChanges).toEqual([]);
  }, TEST_TIMEOUT_MS);

  it('flapping: errors on and off every 300 ms; every request still ends, the breaker opens and closes', async () => {
    const { url, sidecar, faults } = await startSidecar({ ...fastFailing, supervisor: { ...fastFailing.supervisor, restart: { whenOpenForMs: 60_000 } } });
    let on = false;
    const flapper = setInterval(() => void faults({ error_rate: (on = !on) ? 1 : 0 }).catch(() => undefined), 300);
    const outcomes = await load(url).finally(() => clearInterval(flapper));
    expectNoneHung(outcomes);
    const states = sidecar.inferenceBreaker.getMetrics().stateChanges.map((c) => c.toState);
    expect(states).toContain('open');
    expect(states).toContain('closed');
    expect(summarise(outcomes).ok).toBeGreaterThan(0);
  }, TEST_TIMEOUT_MS);
});
