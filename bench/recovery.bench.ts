// Failure detection at default settings, through mlx-guard and the stand-in (load time 1 s):
// for each fault, the time from the fault to its detection, to the end of the last request in
// flight, and to a ready model server again; median of RUNS runs (default 5).
// With --soak, a false-alarm soak instead: long streamed and whole answers, long prefills and a
// serial server for SOAK_MS (default 10 minutes), counting restarts and breaker openings (goal 0).
//
// Then replay: the time a replay adds to whole answers in flight at a one-off crash, and the
// restarts one poison request costs.
//
//   npm run bench:recovery            # ~9 min (the wedged case waits out the 60 s stall window)
//   npm run bench:recovery -- --replay-only  # ~2 min
//   npm run bench:recovery -- --soak  # 10 min of traffic, then up to 7 min for the answers in flight
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { configSchema } from '../src/config.js';
import type { Transition } from '../src/supervisor/index.js';
import { silentLogger } from '../src/observability/logger.js';
import { createSidecar, type Sidecar } from '../src/sidecar.js';

const RUNS = Number(process.env.RUNS ?? 5);
const SOAK_MS = Number(process.env.SOAK_MS ?? 600_000);
const LOAD_TIME_MS = 1_000;

async function startGuard(standinArgs: string[]): Promise<{ sidecar: Sidecar; url: string; transitions: Transition[] }> {
  const config = configSchema.parse({ port: 0, supervisor: { backend: 'standin', model: 'local/model', runDir: mkdtempSync(join(tmpdir(), 'mlx-guard-bench-')), serverArgs: ['--control', ...standinArgs] } });
  const sidecar = createSidecar(config, silentLogger);
  const transitions: Transition[] = [];
  sidecar.supervisor.onTransition((t) => transitions.push(t));
  return { sidecar, url: await sidecar.start(), transitions };
}

async function faults(sidecar: Sidecar, body: object): Promise<void> {
  const serving = sidecar.supervisor.serving;
  if (!serving) throw new Error('no model server is serving: its faults cannot be set');
  const headers: Record<string, string> = serving.apiKey === undefined ? {} : { authorization: `Bearer ${serving.apiKey}` };
  const response = await request(`${serving.baseUrl}/__standin/faults`, { method: 'POST', headers, body: JSON.stringify(body) });
  await response.body.text();
}

/** One client request; resolves with its status (or the stream's error code) and when it ended. */
async function ask(url: string, stream: boolean, maxTokens = 40, timeoutMs = 300_000): Promise<{ outcome: string; endedAt: number }> {
  const body = JSON.stringify({ messages: [{ role: 'user', content: `bench ${Math.random()}` }], max_tokens: maxTokens, stream });
  try {
    const response = await request(`${url}/v1/chat/completions`, { method: 'POST', body, signal: AbortSignal.timeout(timeoutMs), headersTimeout: 0, bodyTimeout: 0 });
    const text = await response.body.text();
    const code = /"code":\s*"([^"]+)"/.exec(text)?.[1];
    const complete = response.statusCode === 200 && (!stream || text.includes('data: [DONE]')) && !code;
    return { outcome: complete ? 'ok' : `${response.statusCode}:${code ?? 'cut'}`, endedAt: performance.now() };
  } catch (error) {
    return { outcome: (error as Error).name, endedAt: performance.now() };
  }
}

const faultNames = ['crash', 'zombie', 'frozen (SIGSTOP)', 'wedged generation'] as const;
type Fault = (typeof faultNames)[number];

interface Run {
  cause: string;
  detectMs: number;
  inflightEndedMs: number;
  readyMs: number;
  outcomes: string[];
}

async function measure(fault: Fault): Promise<Run> {
  const { sidecar, url, transitions } = await startGuard(['--load-time-ms', String(LOAD_TIME_MS), '--token-delay-ms', '100']);
  try {
    // The wedge catches requests that reach the generation loop after it is set: set it first.
    if (fault === 'wedged generation') await faults(sidecar, { hang_after_prefill: true });
    const faultAt = performance.now();
    const inflight = Array.from({ length: 8 }, (_, i) => ask(url, i % 2 === 0, 200));
    await new Promise((resolve) => setTimeout(resolve, 300));
    if (fault === 'crash') await faults(sidecar, { crash_after_tokens: 5 });
    if (fault === 'zombie') await faults(sidecar, { zombie: true });
    if (fault === 'frozen (SIGSTOP)') process.kill(-sidecar.supervisor.status.pid!, 'SIGSTOP');
    const injectedAt = fault === 'wedged generation' ? faultAt : performance.now();
    const since = Date.now();
    const ended = await Promise.all(inflight);
    const detected = await waitFor(() => transitions.find((t) => t.at >= since - 400 && (t.to === 'stopping' || t.to === 'backoff')), 120_000);
    const ready = await waitFor(() => transitions.find((t) => t.to === 'ready' && t.at >= detected.at), 120_000);
    const wallOffset = performance.now() - Date.now();
    return {
      cause: detected.cause,
      detectMs: detected.at + wallOffset - injectedAt,
      inflightEndedMs: Math.max(...ended.map((e) => e.endedAt)) - injectedAt,
      readyMs: ready.at + wallOffset - injectedAt,
      outcomes: ended.map((e) => e.outcome),
    };
  } finally {
    await sidecar.stop(1_000);
  }
}

async function waitFor<T>(find: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`nothing within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const range = (values: number[]) => `${Math.round(Math.min(...values))}–${Math.round(Math.max(...values))}`;

async function recovery(): Promise<void> {
  const rows = [];
  let allRecovered = true;
  for (const fault of faultNames) {
    const runs: Run[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await measure(fault));
    const outcomes: Record<string, number> = {};
    for (const o of runs.flatMap((r) => r.outcomes)) outcomes[o] = (outcomes[o] ?? 0) + 1;
    allRecovered &&= runs.every((r) => Number.isFinite(r.readyMs)) && !('TimeoutError' in outcomes);
    rows.push({
      fault,
      cause: [...new Set(runs.map((r) => r.cause))].join(','),
      'detected (ms)': Math.round(median(runs.map((r) => r.detectMs))),
      'in flight ended (ms)': Math.round(median(runs.map((r) => r.inflightEndedMs))),
      'ready again (ms)': Math.round(median(runs.map((r) => r.readyMs))),
      'ready again, min–max': range(runs.map((r) => r.readyMs)),
      'requests in flight → outcome': JSON.stringify(outcomes),
    });
  }
  console.log(`node ${process.version}; default settings; stand-in load time ${LOAD_TIME_MS} ms; 8 requests in flight per run; medians of ${RUNS} runs, from the fault`);
  console.table(rows);
  console.log(`verdict: ${allRecovered ? 'every run detected, ended its requests in flight and recovered' : 'FAILED: a run did not recover, or a request hung'}`);
  if (!allRecovered) process.exitCode = 1;
}

/**
 * Replay and poison: the time a replay adds to a whole answer (8 of them in flight at a one-off
 * crash, against the same 8 with no crash), and the restarts one poison request costs.
 */
async function replayFigures(): Promise<void> {
  const { sidecar, url } = await startGuard(['--load-time-ms', String(LOAD_TIME_MS), '--token-delay-ms', '50']);
  const batch = async () => {
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 8 }, () => ask(url, false, 20)));
    return { ms: answers.map((a) => a.endedAt - started), outcomes: answers.map((a) => a.outcome) };
  };
  const baseline: number[] = [];
  const replayed: number[] = [];
  const outcomes: Record<string, number> = {};
  for (let i = 0; i < RUNS; i++) {
    baseline.push(...(await batch()).ms);
    const running = batch();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await faults(sidecar, { crash_after_tokens: 1 });
    const crashed = await running;
    replayed.push(...crashed.ms);
    for (const o of crashed.outcomes) outcomes[o] = (outcomes[o] ?? 0) + 1;
    await waitFor(() => sidecar.supervisor.serving, 30_000);
  }
  await sidecar.stop(1_000);

  const poisonRestarts: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const guard = await startGuard(['--load-time-ms', String(LOAD_TIME_MS), '--crash-on-marker', 'POISON']);
    const innocent = Array.from({ length: 7 }, () => ask(guard.url, false, 20));
    const poison = await request(`${guard.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: `POISON ${i}` }], max_tokens: 20 }) });
    await poison.body.text();
    await Promise.all(innocent);
    // The 422 goes out as the second crash is judged; the restart is counted once it is done.
    await waitFor(() => guard.sidecar.supervisor.serving, 30_000);
    poisonRestarts.push(Object.values(guard.sidecar.supervisor.status.restarts).reduce((a, b) => a + b, 0));
    if (poison.statusCode !== 422) throw new Error(`the poison request was answered ${poison.statusCode}, not 422`);
    await guard.sidecar.stop(1_000);
  }
  console.table([
    {
      'whole answers in flight at a one-off crash': baseline.length,
      outcomes: JSON.stringify(outcomes),
      'no crash, median (ms)': Math.round(median(baseline)),
      'replayed, median (ms)': Math.round(median(replayed)),
      'added by the replay, median (ms)': Math.round(median(replayed) - median(baseline)),
      'restarts per poison request': poisonRestarts.join(', '),
    },
  ]);
}

/** Long answers, long prefills and a serial server at defaults: nothing should be mistaken for a failure. */
async function soak(): Promise<void> {
  const guards = {
    'long answers (1 token/s, 170–200 tokens: ~3 min)': await startGuard(['--token-delay-ms', '1000', '--reasoning-tokens', '160']),
    'prefill 90 s with keepalives': await startGuard([]),
    'serial server, whole answers': await startGuard(['--serial', '--token-delay-ms', '1000', '--reasoning-tokens', '160']),
  };
  await faults(guards['prefill 90 s with keepalives'].sidecar, { prefill_ms: 90_000 });
  const stopAt = performance.now() + SOAK_MS;
  const outcomes = new Map<string, Record<string, number>>();
  const client = async (name: keyof typeof guards, stream: boolean) => {
    const counts = outcomes.get(name) ?? {};
    outcomes.set(name, counts);
    while (performance.now() < stopAt) {
      const { outcome } = await ask(guards[name].url, stream, 400, 600_000);
      counts[outcome] = (counts[outcome] ?? 0) + 1;
    }
  };
  await Promise.all([
    client('long answers (1 token/s, 170–200 tokens: ~3 min)', true),
    client('long answers (1 token/s, 170–200 tokens: ~3 min)', false),
    client('prefill 90 s with keepalives', true),
    client('prefill 90 s with keepalives', false),
    client('serial server, whole answers', false),
    client('serial server, whole answers', false),
  ]);
  const rows = Object.entries(guards).map(([name, { sidecar }]) => ({
    case: name,
    restarts: Object.values(sidecar.supervisor.status.restarts).reduce((a, b) => a + b, 0),
    'breaker openings': sidecar.inferenceBreaker.getMetrics().stateChanges.filter((c) => c.toState === 'open').length,
    requests: JSON.stringify(outcomes.get(name)),
  }));
  console.log(`node ${process.version}; default settings; ${SOAK_MS / 1000} s`);
  console.table(rows);
  const clean = rows.every((r) => r.restarts === 0 && r['breaker openings'] === 0);
  console.log(`verdict: ${clean ? 'no false alarm (0 restarts, 0 breaker openings)' : 'FAILED: a healthy server was punished'}`);
  if (!clean) process.exitCode = 1;
  await Promise.all(Object.values(guards).map(({ sidecar }) => sidecar.stop(1_000)));
}

if (process.argv.includes('--soak')) await soak();
else {
  if (!process.argv.includes('--replay-only')) await recovery();
  await replayFigures();
}
