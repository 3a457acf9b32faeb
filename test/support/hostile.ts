// The attacker and the innocent client of the hostile suite (test/hostile/): mlx-guard runs as
// its own process, at its defaults, the way `npm start` runs it; the attack and the measurement run
// in the test's process, on loopback.
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { privateDir, spawnProcess, until, type Spawned } from './processes.js';
import { post, rawRequest } from './raw-http.js';

const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

export interface Guard {
  url: string;
  port: number;
  process: Spawned;
}

/** `mlx-guard start` at its defaults in front of the stand-in, which takes `serverArgs` (its faults, as flags). */
export async function startGuard(serverArgs: string[] = []): Promise<Guard> {
  const dir = privateDir('mlx-guard-hostile-');
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ supervisor: { runDir: join(dir, 'run'), serverArgs } }));
  const guard = spawnProcess(process.execPath, ['--import', 'tsx', cli, 'start', '--port', '0', '--backend', 'standin', '--config', config], { env: { MLX_GUARD_LOG_LEVEL: 'info' } });
  const url = await until(
    'the serving line',
    () => {
      if (guard.child.exitCode !== null) throw new Error(`mlx-guard exited with ${guard.child.exitCode}:\n${guard.stderr.join('\n')}`);
      for (const line of guard.stdout) if (line.includes('"event":"serving"')) return (JSON.parse(line) as { url: string }).url;
      return undefined;
    },
    30_000,
  );
  return { url, port: Number(new URL(url).port), process: guard };
}

export const chatBody = (content: string, extra: Record<string, unknown> = {}) => JSON.stringify({ messages: [{ role: 'user', content }], max_tokens: 4, ...extra });

/** One answer as the innocent client saw it. */
export interface Seen {
  what: 'health' | 'chat';
  status: number | 'failed';
  ms: number;
}

/** An ordinary client: `/health`, then a small completion, each on a fresh connection, one after the other with `pauseMs` between, for `durationMs`. */
export async function innocentClient(port: number, durationMs: number, { content = 'an ordinary question', pauseMs = 50 } = {}): Promise<Seen[]> {
  const seen: Seen[] = [];
  const stopAt = Date.now() + durationMs;
  for (let i = 0; Date.now() < stopAt; i++) {
    for (const what of ['health', 'chat'] as const) {
      const started = performance.now();
      const request = what === 'health' ? 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' : post('/v1/chat/completions', chatBody(`${content} ${i}`));
      const status = await rawRequest(port, request, 10_000).then(
        (answer) => answer.status,
        () => 'failed' as const,
      );
      seen.push({ what, status, ms: performance.now() - started });
    }
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  return seen;
}

/** p50, p99, the slowest and the share answered 200, of what the innocent client saw. */
export function figures(seen: Seen[]): { p50: number; p99: number; max: number; ok: number; n: number } {
  const ms = seen.map((s) => s.ms).sort((a, b) => a - b);
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), max: ms.at(-1) ?? NaN, ok: seen.filter((s) => s.status === 200).length / Math.max(1, seen.length), n: seen.length };
}

export function describeFigures(label: string, seen: Seen[]): string {
  const f = figures(seen);
  return `${label}: p50 ${f.p50.toFixed(1)} ms, p99 ${f.p99.toFixed(1)} ms, slowest ${f.max.toFixed(1)} ms, ${(f.ok * 100).toFixed(1)} % answered 200 (${f.n} requests)`;
}

/**
 * `count` sockets that each send `head` and then one byte a second of what follows, reconnecting a
 * second after mlx-guard closes one (an attacker keeps up the pressure). `stop` ends them all.
 */
export function trickle(port: number, count: number, head: string, drip = 'a'): { stop(): void; connected(): number } {
  let stopped = false;
  const sockets = new Set<Socket>();
  const open = () => {
    if (stopped) return;
    const socket = connect(port, '127.0.0.1');
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    let timer: NodeJS.Timeout | undefined;
    socket.once('connect', () => {
      socket.write(head);
      timer = setInterval(() => socket.write(drip), 1_000);
    });
    socket.once('close', () => {
      clearInterval(timer);
      sockets.delete(socket);
      if (!stopped) setTimeout(open, 1_000).unref();
    });
  };
  for (let i = 0; i < count; i++) open();
  return {
    stop() {
      stopped = true;
      for (const socket of sockets) socket.destroy();
    },
    connected: () => [...sockets].filter((socket) => !socket.connecting && !socket.destroyed).length,
  };
}
