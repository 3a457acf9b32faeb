// `mlx-guard start` as a user runs it (`npm start` runs the built form of the same command).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { acceptQueueCap } from '../../src/server/accept-queue.js';
import { isAlive, privateDir, spawnProcess, until } from '../support/processes.js';
import { post, rawRequest } from '../support/raw-http.js';

const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const run = (args: string[], env: Record<string, string> = {}) => spawnProcess(process.execPath, ['--import', 'tsx', cli, ...args], { env: { MLX_GUARD_LOG_LEVEL: 'info', ...env } });

/** The URL from the structured "serving" log line. */
function serving(lines: string[]): { url: string } | undefined {
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    const record = JSON.parse(line) as { event?: string; url?: string };
    if (record.event === 'serving') return { url: record.url! };
  }
  return undefined;
}

describe('mlx-guard start', () => {
  it('--help lists every option with its variable and default', async () => {
    const help = run(['--help']);
    expect((await help.exited(15_000)).code).toBe(0);
    const text = help.stdout.join('\n');
    expect(text).toContain('mlx-guard start [options]');
    expect(text).toMatch(/--port\s+MLX_GUARD_PORT\s+port mlx-guard serves on \(default 8080\)/);
  });

  it('uses the Python that mlx-guard setup recorded, unless one is named', async () => {
    const home = mkdtempSync(join(tmpdir(), 'mlx-guard-home-'));
    writeFileSync(join(home, 'settings.json'), JSON.stringify({ python: '/recorded/by/setup/python' }));
    const env = { MLX_GUARD_HOME: home, MLX_GUARD_SUPERVISOR_RUN_DIR: privateDir(), VIRTUAL_ENV: '' };
    const recorded = run(['start', '--port', '0', '--backend', 'mlx', '--model', 'org/m'], env);
    expect((await recorded.exited(15_000)).code).toBe(3);
    expect(recorded.stderr.join('\n')).toContain('/recorded/by/setup/python cannot import mlx_lm');
    const named = run(['start', '--port', '0', '--backend', 'mlx', '--model', 'org/m', '--python', '/named/python'], env);
    expect((await named.exited(15_000)).code).toBe(3);
    expect(named.stderr.join('\n')).toContain('/named/python cannot import mlx_lm');
  });

  it('an invalid value stops start-up with a message naming the option, the value and what is allowed', async () => {
    const bad = run(['start', '--backend', 'ollama']);
    expect((await bad.exited(15_000)).code).toBe(2);
    expect(bad.stderr.join('\n')).toMatch(/supervisor\.backend: Invalid option: expected one of "auto"\|"mlx"\|"standin"\|"command" \(got "ollama"\)/);
  });

  it('says loudly that it runs the stand-in, serves, and on SIGTERM lets the request in flight finish, stops the model server and exits 0', async () => {
    // Slow tokens (through the config file) keep the request in flight when SIGTERM arrives.
    const dir = mkdtempSync(join(tmpdir(), 'mlx-guard-cli-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ supervisor: { serverArgs: ['--token-delay-ms', '40'], runDir: join(dir, 'run') } }));
    const guard = run(['start', '--port', '0'], { MLX_GUARD_BACKEND: 'auto', MLX_GUARD_CONFIG: join(dir, 'config.json') });
    const { url } = await until('the serving line', () => serving(guard.stdout), 20_000);
    expect(guard.stdout.join('\n')).toContain('STAND-IN server: placeholder text, not a model');
    const port = Number(new URL(url).port);
    const status = JSON.parse((await rawRequest(port, 'GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).body) as { modelServer: { pid: number } };
    const childPid = status.modelServer.pid;
    expect(isAlive(childPid)).toBe(true);
    const slow = rawRequest(port, post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 25, stream: true })), 15_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    process.kill(guard.pid, 'SIGTERM');
    await until('the shutdown to begin', () => (guard.stdout.some((l) => l.includes('"event":"shutdown"')) ? true : undefined));
    const answer = await slow;
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('data: [DONE]');
    expect(await guard.exited(15_000)).toEqual({ code: 0, signal: null });
    expect(isAlive(childPid)).toBe(false);
  });

  /** Kills each ready model server of the mlx-guard on `port` until it stops relaunching one (budget spent) or `done`; the pids killed. */
  async function spendRestartBudget(port: number, done: (status: Status | undefined) => boolean): Promise<number[]> {
    // Five restarts are allowed in 15 minutes; each kill of a ready child spends one.
    const killed: number[] = [];
    for (;;) {
      const status = await statusOf(port).catch(() => undefined);
      if (done(status) || killed.length >= 7) break;
      const current = status?.modelServer.state === 'ready' ? status.modelServer.pid : undefined;
      if (current !== undefined && !killed.includes(current)) {
        process.kill(current, 'SIGKILL');
        killed.push(current);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return killed;
  }

  it('the model server given up on after start-up (restart budget spent) → a cool-down, shown, then tried again; nothing left running', async () => {
    const dir = privateDir('mlx-guard-cli-');
    const guard = run(['start', '--port', '0', '--backend', 'standin'], { MLX_GUARD_CONFIG: writeConfig(dir, {}) });
    const { url } = await until('the serving line', () => serving(guard.stdout), 20_000);
    const port = Number(new URL(url).port);
    const killed = await spendRestartBudget(port, (status) => Boolean(status?.modelServer.coolingDownUntil));
    const coolingDown = await until('the cool-down', async () => {
      const status = await statusOf(port);
      return status.modelServer.coolingDownUntil ? status : undefined;
    }, 15_000);
    expect(killed).toHaveLength(6);
    expect(guard.child.exitCode).toBeNull();
    expect(coolingDown.modelServer).toMatchObject({ state: 'backoff', detail: expect.stringContaining('restart budget spent; trying again at') });
    // The default cool-down is a minute: a client is told to come back after it.
    const secondsLeft = (Date.parse(coolingDown.modelServer.coolingDownUntil!) - Date.now()) / 1000;
    expect(secondsLeft).toBeGreaterThan(40);
    const answer = await rawRequest(port, post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] })));
    expect(answer.status).toBe(503);
    expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(Math.floor(secondsLeft));
    expect(guard.stderr.join('\n') + guard.stdout.join('\n')).toContain('restarts within 900 s');
    expect(killed.filter(isAlive)).toEqual([]);
    // A person need not wait: a manual restart ends the cool-down at once.
    expect((await rawRequest(port, post('/admin/restart', ''))).status).toBe(202);
    await until('ready again', async () => ((await statusOf(port)).modelServer.state === 'ready' ? true : undefined), 15_000);
    process.kill(guard.child.pid!, 'SIGTERM');
    await guard.exited(15_000);
  }, 60_000);

  it('with restart.coolDownMs 0, the model server given up on after start-up → exit code 4, nothing left running', async () => {
    const dir = privateDir('mlx-guard-cli-');
    const guard = run(['start', '--port', '0', '--backend', 'standin'], { MLX_GUARD_CONFIG: writeConfig(dir, { restart: { coolDownMs: 0 } }) });
    const { url } = await until('the serving line', () => serving(guard.stdout), 20_000);
    const killed = await spendRestartBudget(Number(new URL(url).port), () => guard.child.exitCode !== null);
    expect(await guard.exited(15_000)).toEqual({ code: 4, signal: null });
    expect(guard.stderr.join('\n')).toContain('restarts within 900 s');
    expect(killed.filter(isAlive)).toEqual([]);
  }, 60_000);

  it('secrets from files: the API key and admin token work, and neither shows in ps; a key given as a flag is warned about', async () => {
    const dir = privateDir('mlx-guard-cli-');
    const key = 'an-api-key-from-a-private-file';
    const token = 'an-admin-token-from-a-private-file';
    writeFileSync(join(dir, 'key'), `${key}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'token'), `${token}\n`, { mode: 0o600 });
    const guard = run(['start', '--port', '0', '--backend', 'standin', '--api-key-file', join(dir, 'key')], { MLX_GUARD_CONFIG: writeConfig(dir, {}), MLX_GUARD_ADMIN_TOKEN_FILE: join(dir, 'token') });
    const { url } = await until('the serving line', () => serving(guard.stdout), 20_000);
    const port = Number(new URL(url).port);
    const body = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    expect((await rawRequest(port, post('/v1/chat/completions', body))).status).toBe(401);
    expect((await rawRequest(port, post('/v1/chat/completions', body, `Authorization: Bearer ${key}\r\n`))).status).toBe(200);
    expect((await rawRequest(port, post('/admin/drain', '', `Authorization: Bearer ${token}\r\n`))).status).toBe(200);
    const listing = execFileSync('ps', ['-A', '-ww', '-o', 'command='], { encoding: 'utf8' });
    expect(listing).toContain('--api-key-file');
    expect(listing).not.toContain(key);
    expect(listing).not.toContain(token);
    process.kill(guard.pid, 'SIGINT');
    await guard.exited(10_000);

    const flagged = run(['start', '--port', '0', '--backend', 'standin', '--api-key', key], { MLX_GUARD_CONFIG: writeConfig(privateDir('mlx-guard-cli-'), {}) });
    await until('the warning', () => (flagged.stdout.some((line) => line.includes('"event":"secret_on_command_line"') && line.includes('--api-key-file')) ? true : undefined), 20_000);
    process.kill(flagged.pid, 'SIGINT');
    await flagged.exited(10_000);
  }, 60_000);

  it('more connections than the operating system queues for it: a warning that names the limit and the sysctl that raises it', async () => {
    const cap = await acceptQueueCap();
    expect(cap, 'the accept queue cap (net.core.somaxconn or kern.ipc.somaxconn) could not be read').toBeDefined();
    const dir = privateDir('mlx-guard-cli-');
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ maxConnections: cap, supervisor: { runDir: join(dir, 'run') } }));
    const guard = run(['start', '--port', '0', '--backend', 'standin'], { MLX_GUARD_CONFIG: join(dir, 'config.json') });
    const warning = await until('the warning', () => guard.stdout.find((line) => line.includes('"event":"accept_queue_capped"')), 20_000);
    expect(JSON.parse(warning)).toMatchObject({ level: 40, cap, backlog: 2 * cap! });
    expect(warning).toContain(`somaxconn=${2 * cap!}`);
    process.kill(guard.pid, 'SIGINT');
    await guard.exited(10_000);
  }, 30_000);

  it('SIGTERM to the `npm start` process stops mlx-guard and its model server', async () => {
    const dir = privateDir('mlx-guard-cli-');
    const npm = spawnProcess('npm', ['start', '--silent', '--', '--port', '0', '--backend', 'standin'], { env: { MLX_GUARD_LOG_LEVEL: 'info', MLX_GUARD_CONFIG: writeConfig(dir, {}) } });
    const { url } = await until('the serving line', () => serving(npm.stdout), 45_000);
    const { modelServer } = await statusOf(Number(new URL(url).port));
    process.kill(npm.pid, 'SIGTERM');
    await npm.exited(15_000);
    await until('the model server to be gone', () => (isAlive(modelServer.pid) ? undefined : true), 10_000);
    await closed(url, 10_000);
  }, 90_000);

  it('its parent killed outright (SIGKILL), mlx-guard notices it was re-parented and stops everything', async () => {
    const dir = privateDir('mlx-guard-cli-');
    // A shell that waits for mlx-guard (no exec), as a service manager's wrapper would.
    const shell = spawnProcess('sh', ['-c', `"${process.execPath}" --import tsx "${cli}" start --port 0 --backend standin; exit 0`], {
      env: { MLX_GUARD_LOG_LEVEL: 'info', MLX_GUARD_CONFIG: writeConfig(dir, {}) },
    });
    const { url } = await until('the serving line', () => serving(shell.stdout), 20_000);
    const { modelServer } = await statusOf(Number(new URL(url).port));
    process.kill(shell.pid, 'SIGKILL');
    await until('the model server to be gone', () => (isAlive(modelServer.pid) ? undefined : true), 10_000);
    await closed(url, 10_000);
  }, 40_000);
});

function writeConfig(dir: string, supervisor: Record<string, unknown>): string {
  const path = join(dir, 'config.json');
  writeFileSync(path, JSON.stringify({ supervisor: { runDir: join(dir, 'run'), ...supervisor } }));
  return path;
}

interface Status {
  modelServer: { pid: number; state: string; detail: string; coolingDownUntil: string | null };
}

async function statusOf(port: number): Promise<Status> {
  return JSON.parse((await rawRequest(port, 'GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).body) as Status;
}

/** Resolves once nothing accepts connections on the URL's port any more (mlx-guard is gone). */
async function closed(url: string, timeoutMs: number): Promise<void> {
  const port = Number(new URL(url).port);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(false)));
      socket.once('error', () => resolve(true));
    });
    if (refused) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`port ${port} still accepts connections after ${timeoutMs} ms`);
}
