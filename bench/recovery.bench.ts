// Time from a fault to a ready model server again, through the supervisor and the stand-in
// (load time 1 s), with the detection part apart. Median of RUNS runs per fault (default 5).
//
//   npm run bench:recovery
//
// Settings: the supervisor's defaults (backoff starts at 1 s, grace 10 s) except liveness, whose
// defaults (10 s × 3 canaries) would make the SIGSTOP case take a minute a run: here a canary every
// 1 s with a 1 s deadline, 2 failures to restart. Each run uses a fresh supervisor, so every
// restart is the first one (no accumulated backoff).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { Supervisor } from '../src/host/index.js';

const RUNS = Number(process.env.RUNS ?? 5);
const faults = ['crash', 'zombie', 'sigstop'] as const;
type Fault = (typeof faults)[number];

async function control(baseUrl: string, body: object): Promise<void> {
  const response = await request(`${baseUrl}/__standin/faults`, { method: 'POST', body: JSON.stringify(body) });
  await response.body.text();
}

/** Requests left hanging by a fault; aborted at the end so the process can exit. */
const outstanding = new AbortController();

function completion(baseUrl: string): void {
  // Fire and forget: the fault ends this request; the supervisor's view is what is measured.
  void request(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 10, stream: true }),
    bodyTimeout: 30_000,
    headersTimeout: 30_000,
    signal: outstanding.signal,
  })
    .then((r) => r.body.text())
    .catch(() => undefined);
}

async function inject(fault: Fault, supervisor: Supervisor): Promise<void> {
  const baseUrl = supervisor.baseUrl!;
  if (fault === 'sigstop') {
    process.kill(-supervisor.status.pid!, 'SIGSTOP');
    return;
  }
  await control(baseUrl, fault === 'crash' ? { crash_after_tokens: 1 } : { zombie: true });
  completion(baseUrl);
}

async function measure(fault: Fault): Promise<{ detectMs: number; readyMs: number; cause: string }> {
  const supervisor = new Supervisor({
    backend: 'standin',
    model: 'local/model',
    serverArgs: ['--control', '--load-time-ms', '1000'],
    pidfile: join(mkdtempSync(join(tmpdir(), 'mlx-guard-bench-')), 'child.json'),
    liveness: { intervalMs: 1_000, timeoutMs: 1_000, failureThreshold: 2 },
  });
  try {
    await supervisor.start();
    let detectedAt = 0;
    let cause = '';
    const readyAgain = new Promise<number>((resolve) => {
      supervisor.onTransition(({ to, cause: why }) => {
        if (!detectedAt && (to === 'stopping' || to === 'backoff')) {
          detectedAt = performance.now();
          cause = why;
        }
        if (to === 'ready') resolve(performance.now());
      });
    });
    const faultAt = performance.now();
    await inject(fault, supervisor);
    let deadline: NodeJS.Timeout | undefined;
    const readyAt = await Promise.race([
      readyAgain,
      new Promise<number>((_, reject) => (deadline = setTimeout(() => reject(new Error(`${fault}: not ready again within 120 s`)), 120_000))),
    ]).finally(() => clearTimeout(deadline));
    return { detectMs: detectedAt - faultAt, readyMs: readyAt - faultAt, cause };
  } finally {
    await supervisor.stop();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const rows = [];
for (const fault of faults) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await measure(fault));
  rows.push({
    fault,
    'restart cause': [...new Set(runs.map((r) => r.cause))].join(','),
    'detection, median (ms)': Math.round(median(runs.map((r) => r.detectMs))),
    'fault → ready, median (ms)': Math.round(median(runs.map((r) => r.readyMs))),
    'fault → ready, min–max (ms)': `${Math.round(Math.min(...runs.map((r) => r.readyMs)))}–${Math.round(Math.max(...runs.map((r) => r.readyMs)))}`,
    runs: runs.length,
  });
}
console.log(`node ${process.version}; stand-in load time 1000 ms; backoff 1000 ms; liveness 1 s × 2`);
console.table(rows);
console.log('verdict: every run recovered (no budget is set for recovery time; the figures are reported)');
outstanding.abort();
