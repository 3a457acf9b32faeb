// Two mlx-guard nodes (the stand-in behind each, default settings) behind a real HAProxy running
// the shipped deploy/haproxy.cfg, under 8 clients (6 whole answers, 2 streams, one after another)
// for 20 s per case: a node's model server crashes, then freezes; a node drains (SIGTERM); it
// comes back. What the clients saw and how fast the balancer followed mlx-guard are measured.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHaproxy, type Balancer } from '../support/haproxy.js';
import { eventually, freePort, isAlive, privateDir, spawnProcess, type Spawned } from '../support/processes.js';

const cli = new URL('../../src/cli.ts', import.meta.url).pathname;
const CASE_MS = 20_000;
const REQUEST_DEADLINE_MS = 30_000;

interface Node {
  port: number;
  process: Spawned;
}

/** One mlx-guard at default settings; the stand-in loads for 3 s (a restart takes that long) and writes a token every 20 ms. */
async function startNode(port: number): Promise<Node> {
  const node = spawnProcess(process.execPath, ['--import', 'tsx', cli, 'start', '--port', String(port), '--backend', 'standin', '--supervisor.run-dir', privateDir(), '--', '--load-time-ms', '3000', '--token-delay-ms', '20'], {
    env: { MLX_GUARD_LOG_LEVEL: 'info' },
  });
  await eventually('the node to serve', async () => (node.stdout.some((line) => line.includes('"event":"serving"')) ? true : undefined), 30_000);
  return { port, process: node };
}

const health = (port: number) => fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.status, () => 0);
const modelServerPid = async (port: number) => ((await (await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(2_000) })).json()) as { modelServer: { pid: number } }).modelServer.pid;

interface Tally {
  whole: { ok: number; failed: string[] };
  streams: { ok: number; endedWithError: number; failed: string[] };
  hung: number;
}

/** 8 clients, one request after another each, until `ms` is over; every request has a deadline, past which it counts as hung. */
async function load(url: string, ms: number): Promise<Tally> {
  const tally: Tally = { whole: { ok: 0, failed: [] }, streams: { ok: 0, endedWithError: 0, failed: [] }, hung: 0 };
  const until = Date.now() + ms;
  const body = (stream: boolean) => JSON.stringify({ messages: [{ role: 'user', content: 'hello there' }], max_tokens: 10, stream });
  const one = async (stream: boolean) => {
    const signal = AbortSignal.timeout(REQUEST_DEADLINE_MS);
    try {
      const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(stream), signal });
      const text = await response.text();
      if (!stream) {
        if (response.status === 200 && JSON.parse(text).choices?.length === 1) tally.whole.ok++;
        else tally.whole.failed.push(`${response.status} ${text.slice(0, 200)}`);
      } else if (response.status !== 200) tally.streams.failed.push(`${response.status} ${text.slice(0, 200)}`);
      else if (text.includes('data: [DONE]')) tally.streams.ok++;
      else if (/data: \{"error"/.test(text)) tally.streams.endedWithError++;
      else tally.streams.failed.push(`cut without an error: ${text.slice(-200)}`);
    } catch (error) {
      if (signal.aborted) tally.hung++;
      else (stream ? tally.streams.failed : tally.whole.failed).push(String(error));
    }
  };
  await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      while (Date.now() < until) await one(i >= 6);
    }),
  );
  return tally;
}

/** Time from `start` until `check` holds, polled every 25 ms. */
async function timeUntil(start: number, what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  await eventually(what, async () => ((await check()) ? true : undefined), timeoutMs, 25);
  return performance.now() - start;
}

describe('two mlx-guard nodes behind HAProxy (deploy/haproxy.cfg)', () => {
  let lb: Balancer;
  const nodes: Node[] = [];
  const report: Record<string, unknown> = {};

  beforeAll(async () => {
    const ports = [await freePort(), await freePort()];
    nodes.push(...(await Promise.all(ports.map(startNode))));
    lb = await startHaproxy([`127.0.0.1:${ports[0]}`, `127.0.0.1:${ports[1]}`]);
    await eventually('both nodes UP in HAProxy', async () => {
      const servers = await lb.servers();
      return servers.node1?.status === 'UP' && servers.node2?.status === 'UP' ? true : undefined;
    }, 10_000);
  }, 60_000);

  afterAll(async () => {
    console.log(`haproxy failover report: ${JSON.stringify(report)}`);
    await lb?.stop();
    for (const node of nodes) if (isAlive(node.process.pid)) process.kill(node.process.pid, 'SIGTERM');
    await Promise.all(nodes.map((node) => node.process.exited(20_000).catch(() => undefined)));
  }, 60_000);

  /** Runs the load while `fault` acts on node 1 after 3 s; measures mlx-guard's detection and the balancer's. */
  async function faultCase(name: string, fault: (pid: number) => void) {
    const port = nodes[0]!.port;
    const pid = await modelServerPid(port);
    const running = load(lb.url, CASE_MS);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const at = performance.now();
    fault(pid);
    const detectedMs = await timeUntil(at, `node 1 to report the fault on /health`, async () => (await health(port)) === 503);
    const outMs = await timeUntil(at, 'HAProxy to take node 1 out', async () => (await lb.servers()).node1?.status !== 'UP');
    const backMs = await timeUntil(at, 'node 1 back in HAProxy', async () => (await lb.servers()).node1?.status === 'UP', 30_000);
    const tally = await running;
    report[name] = { detectedMs: Math.round(detectedMs), balancerOutAfterDetectionMs: Math.round(outMs - detectedMs), backInMs: Math.round(backMs), ...tally, whole: { ok: tally.whole.ok, failed: tally.whole.failed.length }, streams: { ok: tally.streams.ok, endedWithError: tally.streams.endedWithError, failed: tally.streams.failed.length } };
    return { detectedMs, outMs, tally };
  }

  it('a crashed model server (SIGKILL): out of the balancer within 2 s of mlx-guard noticing; whole answers see no error; no stream hangs or is cut silently', async () => {
    const { detectedMs, outMs, tally } = await faultCase('crash', (pid) => process.kill(pid, 'SIGKILL'));
    expect(outMs - detectedMs).toBeLessThan(2_000);
    expect(tally.whole.failed).toEqual([]);
    expect(tally.whole.ok).toBeGreaterThan(100);
    expect(tally.streams.failed).toEqual([]);
    expect(tally.hung).toBe(0);
  }, 90_000);

  it('a frozen model server (SIGSTOP): the same', async () => {
    const { detectedMs, outMs, tally } = await faultCase('freeze', (pid) => process.kill(pid, 'SIGSTOP'));
    expect(outMs - detectedMs).toBeLessThan(2_000);
    expect(tally.whole.failed).toEqual([]);
    expect(tally.streams.failed).toEqual([]);
    expect(tally.hung).toBe(0);
  }, 90_000);

  it('a node that drains (SIGTERM): zero failed requests; then it comes back and gets traffic again within the rise time', async () => {
    const node = nodes[0]!;
    const running = load(lb.url, CASE_MS);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const at = performance.now();
    process.kill(node.process.pid, 'SIGTERM');
    const outMs = await timeUntil(at, 'HAProxy to take the draining node out', async () => (await lb.servers()).node1?.status !== 'UP');
    expect(await node.process.exited(70_000)).toEqual({ code: 0, signal: null });
    const tally = await running;
    report.drain = { balancerOutMs: Math.round(outMs), whole: tally.whole.ok, streams: tally.streams.ok, failed: tally.whole.failed.length + tally.streams.failed.length + tally.streams.endedWithError, hung: tally.hung };
    expect(tally.whole.failed).toEqual([]);
    expect(tally.streams.failed).toEqual([]);
    expect(tally.streams.endedWithError).toBe(0);
    expect(tally.hung).toBe(0);

    const before = (await lb.servers()).node1!.sessions;
    const backLoad = load(lb.url, 8_000);
    const again = await startNode(node.port);
    nodes[0] = again;
    const readyAt = performance.now();
    const upMs = await timeUntil(readyAt, 'HAProxy to take node 1 back', async () => (await lb.servers()).node1?.status === 'UP');
    await backLoad;
    const after = (await lb.servers()).node1!.sessions;
    report.back = { upAfterReadyMs: Math.round(upMs), sessionsSinceBack: after - before };
    expect(upMs).toBeLessThan(3_500); // rise 2 checks, 1 s apart (downinter), plus one check's latency
    expect(after).toBeGreaterThan(before);
  }, 120_000);
});
