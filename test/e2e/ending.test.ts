// Nothing outlives mlx-guard: however it ends, its model server ends with it, whatever the
// backend (the stand-in under native-host/mlx_host.py, or a `command` run as given). Each ending is
// checked with `ps`: no process of the model server's group is left.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nativeHost, privateDir, python, spawnProcess, until, type Spawned } from '../support/processes.js';
import { rawRequest } from '../support/raw-http.js';

const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
/** Lets a test raise an uncaught exception in mlx-guard, as a bug would: SIGUSR2 throws. */
const THROW_ON_SIGUSR2 = `data:text/javascript,process.on('SIGUSR2', () => setImmediate(() => { throw new Error('an uncaught error, on purpose') }))`;

const BACKENDS = {
  'the stand-in under the host': ['--backend', 'standin'],
  'a command (no host)': ['--', python, `${nativeHost}/standin`, '--port', '{port}'],
} as const;

async function startGuard(args: readonly string[]): Promise<{ guard: Spawned; port: number; group: number }> {
  const dir = privateDir('mlx-guard-ending-');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ supervisor: { runDir: join(dir, 'run') } }));
  const guard = spawnProcess(process.execPath, ['--import', 'tsx', '--import', THROW_ON_SIGUSR2, cli, 'start', '--port', '0', '--config', join(dir, 'config.json'), ...args], { env: { MLX_GUARD_LOG_LEVEL: 'info' } });
  const url = await until('the serving line', () => guard.stdout.find((line) => line.includes('"event":"serving"')), 30_000);
  const port = Number(new URL((JSON.parse(url) as { url: string }).url).port);
  const status = JSON.parse((await rawRequest(port, 'GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).body) as { modelServer: { pid: number } };
  // The model server leads its own process group.
  return { guard, port, group: status.modelServer.pid };
}

/** The processes of `group` still alive, by `ps`. */
function groupMembers(group: number): number[] {
  const table = execFileSync('ps', ['-A', '-o', 'pid=,pgid=,stat='], { encoding: 'utf8' });
  return table
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([pid, pgid, stat]) => pid && Number(pgid) === group && !stat?.startsWith('Z'))
    .map(([pid]) => Number(pid));
}

describe('nothing outlives mlx-guard', () => {
  for (const [backend, args] of Object.entries(BACKENDS)) {
    describe(backend, () => {
      it('Ctrl-C (SIGINT) on an idle instance: exit 0 within a second, the model server gone', async () => {
        const { guard, group } = await startGuard(args);
        const started = performance.now();
        process.kill(guard.pid, 'SIGINT');
        expect(await guard.exited(10_000)).toEqual({ code: 0, signal: null });
        const ms = performance.now() - started;
        console.log(`${backend}: Ctrl-C to exit ${ms.toFixed(0)} ms`);
        expect(ms).toBeLessThan(1_000);
        expect(groupMembers(group)).toEqual([]);
      });

      it('SIGTERM: drains, stops the model server, exit 0; nothing left', async () => {
        const { guard, group } = await startGuard(args);
        process.kill(guard.pid, 'SIGTERM');
        expect(await guard.exited(20_000)).toEqual({ code: 0, signal: null });
        expect(groupMembers(group)).toEqual([]);
      });

      it('a second Ctrl-C while stopping: exit at once, the model server\'s group ended first', async () => {
        const { guard, group } = await startGuard(args);
        process.kill(guard.pid, 'SIGTERM'); // draining for 5 s
        await until('the shutdown to begin', () => (guard.stdout.some((line) => line.includes('"event":"shutdown"')) ? true : undefined));
        process.kill(guard.pid, 'SIGINT');
        expect((await guard.exited(2_000)).code).toBe(1);
        expect(groupMembers(group)).toEqual([]);
      });

      it('SIGKILL: the watchdog ends the model server within 2 s', async () => {
        const { guard, group } = await startGuard(args);
        process.kill(guard.pid, 'SIGKILL');
        await guard.exited(5_000);
        await until(`the model server's group ${group} gone`, () => (groupMembers(group).length === 0 ? true : undefined), 2_000);
      });

      it('an uncaught exception: mlx-guard exits, and its model server with it', async () => {
        const { guard, group } = await startGuard(args);
        process.kill(guard.pid, 'SIGUSR2');
        expect((await guard.exited(5_000)).code).not.toBe(0);
        expect(guard.stderr.join('\n')).toContain('an uncaught error, on purpose');
        expect(groupMembers(group)).toEqual([]);
      });
    });
  }
});
