// What mlx-guard adds to a request, measured in one run against the same fast upstream
// (bench/support/fast-upstream.mjs, run by mlx-guard's supervisor as a "command" backend):
// throughput flat out with autocannon, direct vs through mlx-guard; latency at a steady rate with
// an open-loop generator timed to the microsecond (bench/support/open-loop.ts says why not
// autocannon), whole answers and streamed time to first token, direct and through mlx-guard in
// alternating rounds so that drift of this noisy machine falls on both alike; and how fast
// mlx-guard answers while its breaker is open.
//
//   npm run bench:sidecar      (builds first; mlx-guard runs as its own process)
//   RATE=500 ROUNDS=4 ROUND_S=3 DURATION_S=5 CONNECTIONS=8 npm run bench:sidecar
//
// Budget (DESIGN.md): added p50 under 1 ms, added p99 under 5 ms.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { createTarget, openLoop, percentile } from './support/open-loop.js';

const DURATION_S = Number(process.env.DURATION_S ?? 5);
const RATE = Number(process.env.RATE ?? 500);
const ROUNDS = Number(process.env.ROUNDS ?? 4);
const ROUND_MS = Number(process.env.ROUND_S ?? 3) * 1000;
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 8);
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mlx-guard-bench-'));
const fastUpstream = fileURLToPath(new URL('./support/fast-upstream.mjs', import.meta.url));
writeFileSync(
  join(dir, 'config.json'),
  JSON.stringify({
    supervisor: { backend: 'command', command: [process.execPath, fastUpstream, '--port', '{port}'], pidfile: join(dir, 'child.json') },
    breakers: { inference: { recoveryTimeoutMs: 600_000 } },
  }),
);

const guard = spawn(process.execPath, [cli, 'start', '--port', '0', '--config', join(dir, 'config.json')], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, MLX_GUARD_LOG_LEVEL: 'info' },
});
const url = await new Promise<string>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('mlx-guard did not start within 30 s')), 30_000);
  let buffered = '';
  guard.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const match = /"event":"serving","url":"([^"]+)"/.exec(buffered);
    if (match) {
      clearTimeout(timer);
      resolve(match[1]!);
    }
  });
});
const status = (await (await fetch(`${url}/status`)).json()) as { modelServer: { baseUrl: string } };
const upstream = status.modelServer.baseUrl;
const body = (stream: boolean) => JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, stream });

/** Flat out: throughput, and autocannon's own (whole-millisecond) latency under saturation. */
async function flatOut(target: string): Promise<autocannon.Result> {
  return autocannon({ url: `${target}/v1/chat/completions`, method: 'POST', body: body(false), headers: { 'content-type': 'application/json' }, connections: CONNECTIONS, duration: DURATION_S });
}

type Series = { samples: number[]; sent: number; failed: number };
const series = (): Series => ({ samples: [], sent: 0, failed: 0 });

/** Alternating rounds at RATE: direct then through, whole answers then first tokens. */
async function steadyRate() {
  const targets = { direct: createTarget(upstream), through: createTarget(url) };
  const runs = { wholeDirect: series(), wholeThrough: series(), firstDirect: series(), firstThrough: series() };
  const plan = [
    [runs.wholeDirect, targets.direct, false],
    [runs.wholeThrough, targets.through, false],
    [runs.firstDirect, targets.direct, true],
    [runs.firstThrough, targets.through, true],
  ] as const;
  // One short round first warms connections and JIT on both paths; it is not counted.
  for (const [, target, stream] of plan) await openLoop(target, { rate: RATE, durationMs: 500, path: '/v1/chat/completions', body: body(stream), firstByte: stream });
  for (let round = 0; round < ROUNDS; round++) {
    for (const [into, target, stream] of plan) {
      const result = await openLoop(target, { rate: RATE, durationMs: ROUND_MS, path: '/v1/chat/completions', body: body(stream), firstByte: stream });
      into.samples.push(...result.samples);
      into.sent += result.sent;
      into.failed += result.failed;
    }
  }
  await Promise.all([targets.direct.close(), targets.through.close()]);
  for (const run of Object.values(runs)) run.samples.sort((a, b) => a - b);
  return runs;
}

try {
  const direct = await flatOut(upstream);
  const through = await flatOut(url);
  const steady = await steadyRate();
  await fetch(`${upstream}/__fail`, { method: 'POST', body: JSON.stringify({ on: true }) });
  for (let i = 0; i < 10; i++) await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: body(false) }).then((r) => r.text());
  const openTarget = createTarget(url);
  const openTimed = await openLoop(openTarget, { rate: RATE, durationMs: ROUND_MS, path: '/v1/chat/completions', body: body(false) });
  await openTarget.close();
  const openFlat = await autocannon({ url: `${url}/v1/chat/completions`, method: 'POST', body: body(false), headers: { 'content-type': 'application/json' }, connections: CONNECTIONS, duration: Math.max(2, DURATION_S / 2) });

  console.log(`node ${process.version}; non-streaming chat, 4 tokens, a fast keep-alive upstream`);
  console.log(`flat out: autocannon, ${CONNECTIONS} connections × ${DURATION_S} s (latency in whole ms)`);
  const row = (name: string, r: autocannon.Result) => ({ run: name, 'p50 ms': r.latency.p50, 'p99 ms': r.latency.p99, 'req/s': Math.round(r.requests.average), non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts });
  console.table([row('direct to the model server', direct), row('through mlx-guard', through), row('through mlx-guard, breaker open (503)', openFlat)]);

  console.log(`steady ${RATE} req/s, open loop: ${ROUNDS} alternating rounds × ${ROUND_MS / 1000} s per path`);
  const ms = (value: number) => value.toFixed(3);
  const timed = (name: string, s: Series) => ({ run: name, requests: s.samples.length, failed: s.failed, 'p50 ms': ms(percentile(s.samples, 50)), 'p99 ms': ms(percentile(s.samples, 99)), 'p99.9 ms': ms(percentile(s.samples, 99.9)), 'max ms': ms(s.samples.at(-1) ?? Number.NaN) });
  console.table([
    timed('whole answer, direct', steady.wholeDirect),
    timed('whole answer, through mlx-guard', steady.wholeThrough),
    timed('first token (streamed), direct', steady.firstDirect),
    timed('first token (streamed), through mlx-guard', steady.firstThrough),
    timed('breaker open: 503 from mlx-guard', { samples: [...openTimed.samples], sent: openTimed.sent, failed: 0 }),
  ]);

  const added = (d: Series, t: Series, p: number) => percentile(t.samples, p) - percentile(d.samples, p);
  const verdicts = [
    ...(['whole answer', 'first token'] as const).flatMap((what) => {
      const [d, t] = what === 'whole answer' ? [steady.wholeDirect, steady.wholeThrough] : [steady.firstDirect, steady.firstThrough];
      const clean = d.failed === 0 && t.failed === 0;
      return [
        { budget: `${what}: added p50 < 1 ms`, measured: `${ms(added(d, t, 50))} ms`, verdict: clean && added(d, t, 50) < 1 ? 'ok' : 'OVER BUDGET' },
        { budget: `${what}: added p99 < 5 ms`, measured: `${ms(added(d, t, 99))} ms`, verdict: clean && added(d, t, 99) < 5 ? 'ok' : 'OVER BUDGET' },
      ];
    }),
    { budget: 'flat out (reported)', measured: `${Math.round(through.requests.average)} req/s through vs ${Math.round(direct.requests.average)} direct`, verdict: through.errors === 0 && through.non2xx === 0 ? 'ok' : 'CHECK' },
    {
      budget: 'open breaker: every answer a 503 (reported)',
      measured: `p50 ${ms(percentile(openTimed.samples, 50))} ms, p99 ${ms(percentile(openTimed.samples, 99))} ms; ${Math.round(openFlat.requests.average)} req/s flat out`,
      verdict: openTimed.failed === openTimed.samples.length && openFlat.non2xx === openFlat.requests.total ? 'ok' : 'CHECK',
    },
  ];
  console.table(verdicts);
  console.log(verdicts.every((v) => v.verdict === 'ok') ? 'verdict: every budget met' : 'verdict: budget missed');
} finally {
  guard.kill('SIGTERM');
}
