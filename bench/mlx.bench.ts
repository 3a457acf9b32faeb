// What mlx-guard costs and buys in front of the real mlx_lm.server (MLX on the CPU, the versions
// scripts/setup-mlx.sh pins), measured in one run that alternates direct and through mlx-guard so
// that this noisy machine's drift falls on both alike:
// - time to first token, whole (a 1-token answer) and streamed (the first content delta), on the
//   stories260K model (fast: what is measured is the path, not the model);
// - token throughput at 1 and 8 concurrent streams on the "slow" model (~20 ms a token), and the
//   CPU mlx-guard's own process spends per streamed token;
// - mlx-guard's resident memory idle and while it carries 8 streams;
// - a crash (SIGKILL) to ready again, against the model server's own start-up time, and a freeze
//   (SIGSTOP) to the first fast 503.
//
//   npm run bench:mlx               (builds, and installs the real server once: scripts/setup-mlx.sh)
//   ROUNDS=3 SAMPLES=30 npm run bench:mlx
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { realMlx } from '../test/support/mlx-install.js';
import { freePort } from '../test/support/ports.js';
import { cpuMs, rssMb } from '../test/support/proc.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SAMPLES = Number(process.env.SAMPLES ?? 30);
const mlx = realMlx();
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const completes = (base: string) => async () => (await fetch(`${base}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: 'a', max_tokens: 1 }), signal: AbortSignal.timeout(10_000) })).ok;

async function startDirect(model: string): Promise<{ base: string; child: ChildProcess; readyMs: number }> {
  const port = await freePort();
  const startedAt = performance.now();
  const child = spawn(mlx.python, ['-m', 'mlx_lm', 'server', '--model', model, '--port', String(port)], { stdio: 'ignore', env: { ...process.env, HF_HUB_OFFLINE: '1' } });
  children.push(child);
  const base = `http://127.0.0.1:${port}`;
  await waitFor('the direct server', completes(base));
  return { base, child, readyMs: performance.now() - startedAt };
}

async function startGuard(model: string): Promise<{ base: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [cli, 'start', '--port', String(port), '--backend', 'mlx', '--python', mlx.python, '--model', model], { stdio: 'ignore', env: { ...process.env, MLX_GUARD_LOG_LEVEL: 'warn' } });
  children.push(child);
  const base = `http://127.0.0.1:${port}`;
  await waitFor('mlx-guard', async () => (await fetch(`${base}/health`)).ok);
  return { base, child };
}

const modelServerPid = async (guard: string) => ((await (await fetch(`${guard}/status`)).json()) as { modelServer: { pid: number } }).modelServer.pid;

async function wholeTtft(base: string): Promise<number> {
  const startedAt = performance.now();
  const response = await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 1 }) });
  await response.text();
  return performance.now() - startedAt;
}

/** Streams one answer; resolves with the time to its first content delta and its token count. */
async function stream(base: string, maxTokens: number, content = 'Once upon a time'): Promise<{ firstMs: number; tokens: number }> {
  const startedAt = performance.now();
  const response = await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content }], max_tokens: maxTokens, stream: true, stream_options: { include_usage: true } }) });
  let firstMs = 0;
  let tokens = 0;
  let buffered = '';
  for await (const piece of response.body!) {
    buffered += Buffer.from(piece).toString();
    if (!firstMs && buffered.includes('"content"')) firstMs = performance.now() - startedAt;
    const usage = /"completion_tokens": ?(\d+)/.exec(buffered);
    if (usage) tokens = Number(usage[1]);
    buffered = buffered.slice(-200);
  }
  return { firstMs, tokens };
}

async function throughput(base: string, streams: number, maxTokens: number): Promise<number> {
  const startedAt = performance.now();
  const results = await Promise.all(Array.from({ length: streams }, (_, i) => stream(base, maxTokens, `Story ${i}: once upon a time`)));
  return results.reduce((sum, r) => sum + r.tokens, 0) / ((performance.now() - startedAt) / 1_000);
}

const rows: Array<[string, string, string, string]> = [];
const row = (what: string, direct: string, through: string, ratio: string) => rows.push([what, direct, through, ratio]);

// Time to first token, on the fast model.
{
  const direct = await startDirect(mlx.stories);
  const guard = await startGuard(mlx.stories);
  const idleRss = rssMb(guard.child.pid!);
  const whole = { direct: [] as number[], through: [] as number[] };
  const streamed = { direct: [] as number[], through: [] as number[] };
  for (let i = 0; i < SAMPLES; i++) {
    whole.direct.push(await wholeTtft(direct.base));
    whole.through.push(await wholeTtft(guard.base));
    streamed.direct.push((await stream(direct.base, 4)).firstMs);
    streamed.through.push((await stream(guard.base, 4)).firstMs);
  }
  const ms = (values: number[]) => `${median(values).toFixed(2)} ms`;
  row('time to first token, whole (p50)', ms(whole.direct), ms(whole.through), `+${(median(whole.through) - median(whole.direct)).toFixed(2)} ms`);
  row('time to first token, streamed (p50)', ms(streamed.direct), ms(streamed.through), `+${(median(streamed.through) - median(streamed.direct)).toFixed(2)} ms`);
  row('mlx-guard RSS, idle after start-up', '', `${idleRss.toFixed(0)} MB`, '');

  // A crash to ready again, against the model server's own start-up time.
  const crashed = await modelServerPid(guard.base);
  const killedAt = performance.now();
  process.kill(crashed, 'SIGKILL');
  await waitFor('ready after the crash', async () => (await modelServerPid(guard.base)) !== crashed && (await fetch(`${guard.base}/health`)).ok);
  row('SIGKILL to ready again (vs the server\'s own start to first token)', `${direct.readyMs.toFixed(0)} ms`, `${(performance.now() - killedAt).toFixed(0)} ms`, '');

  // A freeze to the first fast 503.
  const frozen = await modelServerPid(guard.base);
  const stoppedAt = performance.now();
  process.kill(frozen, 'SIGSTOP');
  let refusedAfter = 0;
  let refusalMs = 0;
  while (!refusedAfter && performance.now() - stoppedAt < 20_000) {
    const sentAt = performance.now();
    const answer = await fetch(`${guard.base}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 }), signal: AbortSignal.timeout(500) }).catch(() => undefined);
    if (answer?.status === 503) {
      refusalMs = performance.now() - sentAt;
      refusedAfter = performance.now() - stoppedAt;
    }
    await answer?.text();
  }
  // mlx-guard has ended the frozen process by now; make sure of it either way.
  try {
    process.kill(frozen, 'SIGKILL');
  } catch {}
  row('SIGSTOP to the first fast 503 (that 503 took)', '', `${refusedAfter.toFixed(0)} ms`, `${refusalMs.toFixed(1)} ms`);
  direct.child.kill('SIGKILL');
  guard.child.kill('SIGTERM');
}

// Throughput on the slow model, and what mlx-guard spends per token.
{
  const direct = await startDirect(mlx.slow);
  const guard = await startGuard(mlx.slow);
  let verdictOk = true;
  for (const [streams, tokens] of [[1, 200], [8, 120]] as const) {
    const rates = { direct: [] as number[], through: [] as number[] };
    let guardCpu = 0;
    let peakRss = 0;
    for (let round = 0; round < ROUNDS; round++) {
      rates.direct.push(await throughput(direct.base, streams, tokens));
      const cpuBefore = cpuMs(guard.child.pid!);
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(guard.child.pid!))), 100);
      rates.through.push(await throughput(guard.base, streams, tokens));
      clearInterval(sampler);
      guardCpu += cpuMs(guard.child.pid!) - cpuBefore;
    }
    const ratio = median(rates.through) / median(rates.direct);
    verdictOk &&= ratio >= 0.95;
    row(`tokens/s at ${streams} stream(s) (p50 of ${ROUNDS} rounds)`, median(rates.direct).toFixed(1), median(rates.through).toFixed(1), `${(ratio * 100).toFixed(1)} %`);
    row(`mlx-guard CPU per streamed token at ${streams} stream(s)`, '', `${((guardCpu / (ROUNDS * streams * tokens)) * 1000).toFixed(0)} µs`, '');
    if (streams === 8) row('mlx-guard RSS carrying 8 streams (peak)', '', `${peakRss.toFixed(0)} MB`, '');
  }
  const width = [0, 1, 2, 3].map((i) => Math.max(...[['', 'direct', 'through mlx-guard', 'difference'], ...rows].map((r) => r[i]!.length)));
  const line = (r: readonly string[]) => `| ${r.map((cell, i) => cell.padEnd(width[i]!)).join(' | ')} |`;
  console.log(line(['', 'direct', 'through mlx-guard', 'difference']));
  console.log(line(width.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(r));
  console.log(`\nmlx_lm ${mlx.versions.mlxLm}, mlx ${mlx.versions.mlx} (CPU). Verdict: ${verdictOk ? 'token throughput through mlx-guard within 5 % of direct' : 'OVER BUDGET: token throughput through mlx-guard more than 5 % below direct'}`);
  process.exit(0);
}
