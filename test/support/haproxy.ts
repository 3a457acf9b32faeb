import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, freePort, privateDir, spawnProcess, type Spawned } from './processes.js';

export const haproxyConfig = fileURLToPath(new URL('../../deploy/haproxy.cfg', import.meta.url));

/** Debian's haproxy, which .ci/run installs; its absence is a failure that says so. */
export function haproxyBinary(): string {
  const found = spawnSync('haproxy', ['-v'], { encoding: 'utf8' });
  if (found.status !== 0) throw new Error('haproxy is not installed: apt-get install haproxy (.ci/run does)');
  return 'haproxy';
}

export interface Balancer {
  url: string;
  process: Spawned;
  /** One runtime API command on the admin socket, and its answer. */
  command(text: string): Promise<string>;
  /** Each server's status as `show stat` gives it: UP, DOWN, DRAIN, MAINT, "UP 1/2"…, and its total sessions. */
  servers(): Promise<Record<string, { status: string; sessions: number }>>;
  stop(): Promise<void>;
}

/** The shipped configuration, run in the foreground on loopback in front of the given nodes. */
export async function startHaproxy(nodes: [string, string]): Promise<Balancer> {
  const dir = privateDir('mlx-guard-lb-');
  const socket = join(dir, 'admin.sock');
  const port = await freePort();
  const env = { MLX_GUARD_LB_BIND: `127.0.0.1:${port}`, MLX_GUARD_LB_SOCKET: socket, MLX_GUARD_NODE_1: nodes[0], MLX_GUARD_NODE_2: nodes[1] };
  const check = spawnSync(haproxyBinary(), ['-c', '-f', haproxyConfig], { env: { ...process.env, ...env }, encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`haproxy -c refused the shipped config: ${check.stderr}${check.stdout}`);
  const process_ = spawnProcess('haproxy', ['-db', '-f', haproxyConfig], { env });
  const command = (text: string) =>
    new Promise<string>((resolve, reject) => {
      const client = connect(socket);
      const timer = setTimeout(() => client.destroy(new Error(`no answer to "${text}" on haproxy's socket within 2 s`)), 2_000);
      let answer = '';
      client.on('data', (chunk) => (answer += chunk.toString()));
      client.on('end', () => (clearTimeout(timer), resolve(answer)));
      client.on('error', (error) => (clearTimeout(timer), reject(error)));
      client.end(`${text}\n`);
    });
  const servers = async () => {
    const lines = (await command('show stat')).trim().split('\n');
    const header = lines[0]!.replace(/^# /, '').split(',');
    const at = (name: string) => header.indexOf(name);
    const result: Record<string, { status: string; sessions: number }> = {};
    for (const line of lines.slice(1)) {
      const cells = line.split(',');
      if (cells[at('pxname')] !== 'mlx_guard' || ['BACKEND', 'FRONTEND'].includes(cells[at('svname')]!)) continue;
      result[cells[at('svname')]!] = { status: cells[at('status')]!, sessions: Number(cells[at('stot')]) };
    }
    return result;
  };
  await eventually('haproxy to answer on its socket', async () => ((await servers().catch(() => undefined)) ? true : undefined), 10_000);
  return {
    url: `http://127.0.0.1:${port}`,
    process: process_,
    command,
    servers,
    async stop() {
      process.kill(process_.pid, 'SIGTERM');
      await process_.exited(10_000);
    },
  };
}
