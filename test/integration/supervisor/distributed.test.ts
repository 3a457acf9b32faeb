// mlx_lm.server across machines under MLX's launcher, with a fake mlx.launch
// (test/fixtures/fake-mlx-launch) that runs one local process per host and a fake mlx_lm: the
// command line mlx-guard builds, a rank that dies restarting the whole job, and a stop that leaves
// no rank running. A real run across several Macs has not been tested here.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Supervisor, type SupervisorOptions } from '../../../src/supervisor/index.js';
import { isAlive, privateDir, python, until } from '../../support/processes.js';

const fakeMlx = fileURLToPath(new URL('../../fixtures/fake-mlx', import.meta.url));
const fakeLaunch = fileURLToPath(new URL('../../fixtures/fake-mlx-launch/mlx.launch', import.meta.url));
const saved = { ...process.env };
let dir = '';
const launches = () => readFileSync(join(dir, 'launches.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as string[]);
const rankPids = () => readFileSync(join(dir, 'pids'), 'utf8').trim().split('\n').map(Number);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlx-guard-distributed-'));
  // The model server's environment is allow-listed: PYTHONPATH and MLX_* pass.
  Object.assign(process.env, { PYTHONPATH: fakeMlx, MLX_FAKE_LAUNCH_LOG: join(dir, 'launches.jsonl'), MLX_FAKE_LAUNCH_PIDS: join(dir, 'pids') });
});
afterEach(() => {
  for (const key of ['PYTHONPATH', 'MLX_FAKE_LAUNCH_LOG', 'MLX_FAKE_LAUNCH_PIDS']) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
});

const options = (extra: Partial<SupervisorOptions> = {}): SupervisorOptions => ({
  backend: 'mlx',
  model: 'mlx-community/big-model',
  python,
  runDir: privateDir(),
  startup: { pollIntervalMs: 50 },
  restart: { initialDelayMs: 100, jitter: 0 },
  stop: { graceMs: 1_000 },
  distributed: { hosts: ['mac1.local', 'mac2.local', 'mac3.local'], backend: 'ring', launcher: fakeLaunch, launcherArgs: ['--env', 'MLX_METAL_FAST_SYNCH=1'] },
  ...extra,
});

describe('a distributed mlx_lm.server (mlx.launch, --pipeline)', () => {
  it('launches mlx.launch with the hosts, the backend, its options, mlx_lm.server\'s file and --pipeline; rank 0 serves', async () => {
    const supervisor = new Supervisor(options({ serverArgs: ['--trust-remote-code'] }));
    try {
      await supervisor.start();
      expect(supervisor.state).toBe('ready');
      const [argv] = launches();
      const port = new URL(supervisor.status.baseUrl!).port;
      expect(argv).toEqual(['--hosts', 'mac1.local,mac2.local,mac3.local', '--backend', 'ring', '--env', 'MLX_METAL_FAST_SYNCH=1', join(fakeMlx, 'mlx_lm', 'server.py'), '--model', 'mlx-community/big-model', '--host', '127.0.0.1', '--port', port, '--trust-remote-code', '--pipeline']);
      expect(rankPids()).toHaveLength(3);
      const answer = await fetch(`${supervisor.status.baseUrl}/v1/chat/completions`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(5_000) });
      expect(answer.status).toBe(200);
    } finally {
      await supervisor.stop();
    }
  });

  it('a hostfile instead of hosts goes to mlx.launch as --hostfile', async () => {
    const { writeFileSync } = await import('node:fs');
    const hostfile = join(dir, 'hosts.json');
    writeFileSync(hostfile, JSON.stringify([{ ssh: 'mac1.local', ips: ['10.0.0.1'] }, { ssh: 'mac2.local', ips: ['10.0.0.2'] }]));
    const supervisor = new Supervisor(options({ distributed: { hostfile, launcher: fakeLaunch } }));
    try {
      await supervisor.start();
      expect(launches()[0]!.slice(0, 3)).toEqual(['--hostfile', hostfile, join(fakeMlx, 'mlx_lm', 'server.py')]);
      expect(rankPids()).toHaveLength(2);
    } finally {
      await supervisor.stop();
    }
  });

  it('a rank that dies ends the job, and the whole job is restarted; a stop leaves no rank running', async () => {
    const supervisor = new Supervisor(options());
    try {
      await supervisor.start();
      const [, second] = rankPids();
      process.kill(second!, 'SIGKILL');
      await until('a second launch', () => (launches().length === 2 && supervisor.state === 'ready' ? true : undefined), 15_000);
      expect(supervisor.status.restarts.crash).toBe(1);
    } finally {
      await supervisor.stop();
    }
    for (const pid of rankPids()) expect(isAlive(pid), `rank ${pid}`).toBe(false);
  });

  it('refused before launch, saying why: an mlx_lm without --pipeline; neither or both of hosts and hostfile', async () => {
    const { mkdirSync, writeFileSync } = await import('node:fs');
    const old = join(dir, 'old');
    mkdirSync(join(old, 'mlx_lm'), { recursive: true });
    writeFileSync(join(old, 'mlx_lm', '__init__.py'), '__version__ = "0.29.1"\n');
    process.env.PYTHONPATH = old;
    await expect(new Supervisor(options()).start()).rejects.toMatchObject({ reason: 'flag_unsupported', message: expect.stringMatching(/mlx_lm 0\.29\.1 cannot serve one model across machines: --pipeline came in 0\.30\.6/) });
    expect(() => new Supervisor(options({ distributed: { backend: 'ring' } }))).toThrow(/backend is set, but a distributed model server also needs hosts or a hostfile/);
    expect(() => new Supervisor(options({ backend: 'command', command: ['x', '{port}'] }))).toThrow(/only the mlx backend runs across machines/);
  });
});
