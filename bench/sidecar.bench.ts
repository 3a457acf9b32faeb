// What mlx-guard adds to a request, measured in one run against the same fast upstream
// (bench/support/fast-upstream.mjs, run by mlx-guard's supervisor as a "command" backend): autocannon
// latency and throughput direct vs through mlx-guard, time to first token when streaming, and how
// fast mlx-guard answers while its breaker is open.
//
//   npm run bench:sidecar      (builds first; mlx-guard runs as its own process)
//
// Budget (DESIGN.md): added p50 under 1 ms, added p99 under 5 ms.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const DURATION_S = Number(process.env.DURATION_S ?? 8);
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
const body = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });

/** Flat out (throughput), or at a fixed request rate well below it (latency without queueing). */
async function cannon(target: string, overallRate?: number): Promise<autocannon.Result> {
  return autocannon({
    url: `${target}/v1/chat/completions`,
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json' },
    connections: CONNECTIONS,
    duration: DURATION_S,
    ...(overallRate ? { overallRate } : {}),
  });
}
const RATE = Number(process.env.RATE ?? 500);

/**
 * One request at a time, timed with performance.now() (autocannon rounds to whole milliseconds):
 * until the first data frame when streaming, until the whole body otherwise.
 */
async function oneAtATime(target: string, runs: number, stream: boolean): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const response = await fetch(`${target}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: `one ${i}` }], max_tokens: 4, stream }) });
    if (!stream) {
      await response.text();
      samples.push(performance.now() - started);
      continue;
    }
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('data: {')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    samples.push(performance.now() - started);
    await reader.cancel();
  }
  return samples;
}

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!;

try {
  const direct = await cannon(upstream);
  const through = await cannon(url);
  const directAtRate = await cannon(upstream, RATE);
  const throughAtRate = await cannon(url, RATE);
  const ttftDirect = await oneAtATime(upstream, 200, true);
  const ttftThrough = await oneAtATime(url, 200, true);
  const wholeDirect = await oneAtATime(upstream, 1_000, false);
  const wholeThrough = await oneAtATime(url, 1_000, false);
  await fetch(`${upstream}/__fail`, { method: 'POST', body: JSON.stringify({ on: true }) });
  for (let i = 0; i < 10; i++) await fetch(`${url}/v1/chat/completions`, { method: 'POST', body }).then((r) => r.text());
  const open = await autocannon({ url: `${url}/v1/chat/completions`, method: 'POST', body, headers: { 'content-type': 'application/json' }, connections: CONNECTIONS, duration: Math.max(2, DURATION_S / 2) });

  console.log(`node ${process.version}; ${CONNECTIONS} connections × ${DURATION_S} s per run; non-streaming chat, 4 tokens, a fast keep-alive upstream`);
  const row = (name: string, r: autocannon.Result) => ({ run: name, 'p50 ms': r.latency.p50, 'p99 ms': r.latency.p99, 'req/s': Math.round(r.requests.average), non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts });
  console.table([
    row('flat out: direct to the model server', direct),
    row('flat out: through mlx-guard', through),
    row(`${RATE} req/s: direct`, directAtRate),
    row(`${RATE} req/s: through mlx-guard`, throughAtRate),
    row('flat out: through mlx-guard, breaker open (503)', open),
  ]);
  const timed = (name: string, samples: number[]) => ({ 'one request at a time': name, 'p50 ms': percentile(samples, 50).toFixed(2), 'p99 ms': percentile(samples, 99).toFixed(2) });
  console.table([
    timed('whole answer, direct', wholeDirect),
    timed('whole answer, through mlx-guard', wholeThrough),
    timed('time to first token, direct', ttftDirect),
    timed('time to first token, through mlx-guard', ttftThrough),
  ]);
  const added = (direct: number[], through: number[]) => `p50 +${(percentile(through, 50) - percentile(direct, 50)).toFixed(2)} ms, p99 +${(percentile(through, 99) - percentile(direct, 99)).toFixed(2)} ms`;
  // Added latency is judged at a fixed rate: flat out, the 2 cores are shared by the load
  // generator, mlx-guard's two threads and the upstream, and p99 measures that queue instead.
  const addedP50 = throughAtRate.latency.p50 - directAtRate.latency.p50;
  const addedP99 = throughAtRate.latency.p99 - directAtRate.latency.p99;
  const verdicts = [
    { budget: `added p50 < 1 ms (at ${RATE} req/s)`, measured: `${addedP50.toFixed(2)} ms`, verdict: addedP50 < 1 ? 'ok' : 'OVER BUDGET' },
    { budget: `added p99 < 5 ms (at ${RATE} req/s)`, measured: `${addedP99.toFixed(2)} ms`, verdict: addedP99 < 5 ? 'ok' : 'OVER BUDGET' },
    { budget: 'one at a time, whole answer (reported)', measured: added(wholeDirect, wholeThrough), verdict: 'ok' },
    { budget: 'one at a time, first token (reported)', measured: added(ttftDirect, ttftThrough), verdict: 'ok' },
    { budget: 'flat out (reported)', measured: `p50 +${(through.latency.p50 - direct.latency.p50).toFixed(2)} ms, p99 +${(through.latency.p99 - direct.latency.p99).toFixed(2)} ms, ${Math.round(through.requests.average)} req/s`, verdict: 'ok' },
    { budget: 'open breaker answers 503, fast', measured: `p50 ${open.latency.p50} ms, p99 ${open.latency.p99} ms, ${open.non2xx} of ${open.requests.total} were 503`, verdict: open.non2xx === open.requests.total ? 'ok' : 'CHECK' },
  ];
  console.table(verdicts);
  console.log(verdicts.every((v) => v.verdict === 'ok') ? 'verdict: every budget met' : 'verdict: budget missed');
} finally {
  guard.kill('SIGTERM');
}
