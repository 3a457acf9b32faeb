// The supervisor against real stand-in processes: every failure ends in a restart or a clear
// fatal state, every wait is bounded, and nothing is left running.
import { connect, createServer, type Server } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../../src/breaker/index.js';
import { showProgress, Supervisor, type RestartEvent, type SupervisorOptions, type Transition } from '../../../src/supervisor/index.js';
import { isAlive, nativeHost, privateDir, python, spawnProcess, until } from '../../support/processes.js';
import { post, rawRequest } from '../../support/raw-http.js';

const supervisors: Supervisor[] = [];
afterEach(async () => {
  await Promise.all(supervisors.splice(0).map((s) => s.stop()));
});

function supervise(overrides: SupervisorOptions = {}) {
  const options: SupervisorOptions = {
    backend: 'standin',
    runDir: privateDir(),
    startup: { timeoutMs: 8_000, stallTimeoutMs: 5_000, pollIntervalMs: 50 },
    liveness: { canaryTimeoutMs: 500 },
    restart: { initialDelayMs: 50, maxDelayMs: 400, jitter: 0, maxRestarts: 5, windowMs: 60_000 },
    stop: { graceMs: 500 },
    ...overrides,
  };
  const supervisor = new Supervisor(options);
  supervisors.push(supervisor);
  const transitions: Transition[] = [];
  const restarts: RestartEvent[] = [];
  supervisor.onTransition((t) => transitions.push(t));
  supervisor.onRestart((r) => restarts.push(r));
  const port = () => Number(new URL(supervisor.baseUrl!).port);
  /** The header the model server's own port requires (its launch's key; none for a command that checks none). */
  const key = () => (supervisor.serving?.apiKey === undefined ? '' : `Authorization: Bearer ${supervisor.serving.apiKey}\r\n`);
  const nextReady = (after: number) => until('ready again', () => (supervisor.state === 'ready' && transitions.filter((t) => t.to === 'ready').length > after ? true : undefined), 10_000);
  return { supervisor, transitions, restarts, port, key, nextReady, options };
}

const stream = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 20, stream: true });

describe('supervisor', () => {
  it('starts the model server, proves it ready with a canary, and reports it', async () => {
    const { supervisor, transitions } = supervise({ serverArgs: ['--load-time-ms', '300'], model: 'org/model' });
    await supervisor.start();
    expect(supervisor.state).toBe('ready');
    expect(transitions.map((t) => t.to)).toEqual(['starting', 'ready']);
    expect(supervisor.status.lastTimeToReadyMs).toBeGreaterThanOrEqual(300);
    expect(supervisor.recentLogLines.some((l) => l.includes('Starting httpd'))).toBe(true);
    // Its port answers only mlx-guard: the launch's key, given in its environment, and no CORS headers.
    const { apiKey } = supervisor.serving!;
    expect(apiKey).toMatch(/^[\w-]{32}$/);
    const direct = Number(new URL(supervisor.baseUrl!).port);
    const stranger = await rawRequest(direct, 'GET /health HTTP/1.1\r\nOrigin: http://evil.example\r\n\r\n');
    expect(stranger.status).toBe(401);
    const wrong = await rawRequest(direct, `GET /health HTTP/1.1\r\nAuthorization: Bearer ${apiKey!.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))}\r\n\r\n`);
    expect(wrong.status).toBe(401);
    const own = await rawRequest(direct, `GET /health HTTP/1.1\r\nOrigin: http://evil.example\r\nAuthorization: Bearer ${apiKey}\r\n\r\n`);
    expect(own.status).toBe(200);
    expect(Object.keys(own.headers).filter((name) => name.startsWith('access-control'))).toEqual([]);
    if (existsSync('/proc/self/cmdline')) expect(readFileSync(`/proc/${supervisor.status.pid}/cmdline`, 'utf8')).not.toContain(apiKey!);
  });

  it('crash mid-stream → restarted and ready again, the crash lines attached to the restart', async () => {
    const { supervisor, restarts, port, key, nextReady } = supervise({ serverArgs: ['--control'] });
    await supervisor.start();
    const firstPid = supervisor.status.pid!;
    await rawRequest(port(), post('/__standin/faults', '{"crash_after_tokens": 2}', key()));
    await rawRequest(port(), post('/v1/chat/completions', stream, key()));
    await nextReady(1);
    expect(supervisor.status.pid).not.toBe(firstPid);
    expect(isAlive(firstPid)).toBe(false);
    expect(restarts[0]).toMatchObject({ cause: 'metal_abort', exit: { signal: 'SIGABRT' } });
    expect(restarts[0]!.logLines.some((l) => l.startsWith('libc++abi: terminating'))).toBe(true);
    expect(supervisor.status.restarts).toEqual({ metal_abort: 1 });
  });

  it('zombie line → restarted at once, without waiting for any timeout', async () => {
    // Run the stand-in bare (backend "command"), so only its stderr line can give the zombie away.
    const { supervisor, restarts, port, key, nextReady } = supervise({
      backend: 'command',
      command: [python, `${nativeHost}/standin`, '--port', '{port}', '--control'],
    });
    await supervisor.start();
    await rawRequest(port(), post('/__standin/faults', '{"zombie": true}', key()));
    const faultAt = Date.now();
    void rawRequest(port(), post('/v1/chat/completions', stream, key()), 30_000).catch(() => undefined);
    await nextReady(1);
    expect(restarts[0]!.cause).toBe('zombie');
    expect(Date.now() - faultAt).toBeLessThan(5_000);
  });

  it('the backoff is waited out in full, even when the replaced child exits late', async () => {
    const { supervisor, transitions, port, key, nextReady } = supervise({
      serverArgs: ['--control'],
      restart: { initialDelayMs: 600, maxDelayMs: 1_000, jitter: 0, maxRestarts: 5, windowMs: 60_000 },
    });
    await supervisor.start();
    // The first restart in a row is immediate; the second waits out initialDelayMs.
    for (const readyCount of [1, 2]) {
      await rawRequest(port(), post('/__standin/faults', '{"zombie": true}', key()));
      void rawRequest(port(), post('/v1/chat/completions', stream, key()), 30_000).catch(() => undefined);
      await nextReady(readyCount);
    }
    const backoffs = transitions.filter((t) => t.to === 'backoff');
    const relaunches = transitions.filter((t) => t.from === 'backoff' && t.to === 'starting');
    expect(relaunches[0]!.at - backoffs[0]!.at).toBeLessThan(100);
    expect(relaunches[1]!.at - backoffs[1]!.at).toBeGreaterThanOrEqual(590);
  });

  it('SIGSTOP of the child → no heartbeat → restarted as frozen within the heartbeat timeout (default 4 s)', async () => {
    const { supervisor, restarts, nextReady } = supervise({ liveness: {} });
    await supervisor.start();
    const stopped = supervisor.status.pid!;
    process.kill(-stopped, 'SIGSTOP');
    const frozenAt = Date.now();
    await nextReady(1);
    expect(restarts[0]).toMatchObject({ cause: 'frozen' });
    expect(restarts[0]!.detail).toMatch(/^no heartbeat for [\d.]+ s/);
    expect(Date.now() - frozenAt).toBeLessThan(4_000 + 1_000 + 2_000);
    expect(isAlive(stopped)).toBe(false);
  });

  it('backend "command" (no host): SIGSTOP → /health probes fail on time even with the accept queue full → frozen', async () => {
    const { supervisor, restarts, nextReady, port, key } = supervise({ backend: 'command', command: [python, `${nativeHost}/standin`, '--port', '{port}'] });
    await supervisor.start();
    const stopped = supervisor.status.pid!;
    process.kill(-stopped, 'SIGSTOP');
    // More connections than the stopped server's listen backlog holds: the next connect hangs.
    const piled = Array.from({ length: 40 }, () => connect(port(), '127.0.0.1').on('error', () => undefined));
    try {
      const started = Date.now();
      await nextReady(1);
      expect(restarts[0]).toMatchObject({ cause: 'frozen' });
      expect(restarts[0]!.detail).toMatch(/^\/health failed 2 times in a row \(last: no answer within \d+ ms\)/);
      expect(Date.now() - started).toBeLessThan(6_000);
    } finally {
      for (const socket of piled) socket.destroy();
    }
  });

  it('busy with no generation step for stallMs → restarted as wedged, though /health still answers', async () => {
    const { supervisor, restarts, nextReady, port, key } = supervise({ serverArgs: ['--control'], liveness: { stallMs: 1_500 } });
    await supervisor.start();
    await rawRequest(port(), post('/__standin/faults', '{"hang_after_prefill": true}', key()));
    const hung = rawRequest(port(), post('/v1/chat/completions', stream, key()), 10_000).catch((error: Error) => error);
    expect((await rawRequest(port(), `GET /health HTTP/1.1\r\n${key()}\r\n`)).status).toBe(200);
    await nextReady(1);
    expect(restarts[0]).toMatchObject({ cause: 'wedged' });
    expect(restarts[0]!.detail).toMatch(/^busy with 1 request\(s\) and no generation step for [\d.]+ s/);
    await hung;
  });

  it('backend "command", a serial server: /health waits behind a long answer, but the answer’s progress keeps it alive', async () => {
    const { supervisor, restarts, port, key } = supervise({ backend: 'command', command: [python, `${nativeHost}/standin`, '--port', '{port}', '--serial', '--token-delay-ms', '400'] });
    await supervisor.start();
    const tracker = supervisor.journal.begin({ id: 'long', digest: 'long', bodyBytes: 0 });
    const started = Date.now();
    let text = '';
    try {
      const body = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 50, stream: true });
      const response = await fetch(`${supervisor.baseUrl}/v1/chat/completions`, { method: 'POST', body, signal: AbortSignal.timeout(15_000) });
      for await (const chunk of response.body!) {
        tracker.progress();
        text += Buffer.from(chunk).toString();
      }
    } finally {
      tracker.end();
    }
    expect(text).toContain('data: [DONE]');
    // Long enough for several /health probes to have failed behind it.
    expect(Date.now() - started).toBeGreaterThan(4_000);
    expect((await rawRequest(port(), `GET /health HTTP/1.1\r\n${key()}\r\n`)).status).toBe(200);
    expect(restarts).toEqual([]);
  });

  it('load progress becomes the status detail and one self-updating terminal line, cleared once ready', async () => {
    const { supervisor } = supervise({ model: 'org/model', serverArgs: ['--load-time-ms', '300'] });
    const written: string[] = [];
    showProgress(supervisor, { isTTY: true, write: (chunk: string | Uint8Array) => written.push(String(chunk)) > 0 });
    const details: string[] = [];
    supervisor.onProgress(() => details.push(supervisor.status.detail));
    await supervisor.start();
    expect(details.at(-1)).toBe('loading: Fetching 9 files 100%');
    expect(written.at(-2)).toBe(`\r\x1b[2Kloading the model: [${'#'.repeat(24)}] Fetching 9 files 100%`);
    expect(written.at(-1)).toBe('\r\x1b[2K');
  });

  it('slow start within the deadline → ready', async () => {
    const { supervisor } = supervise({ model: 'org/model', serverArgs: ['--load-time-ms', '1500'], startup: { timeoutMs: 5_000, stallTimeoutMs: 3_000, pollIntervalMs: 50 } });
    await supervisor.start();
    expect(supervisor.status.lastTimeToReadyMs).toBeGreaterThanOrEqual(1_500);
  });

  it('slow start past the deadline → restarted, and given up on once the budget is spent', async () => {
    const { supervisor, restarts } = supervise({
      model: 'org/model',
      serverArgs: ['--load-time-ms', '3000'],
      startup: { timeoutMs: 600, stallTimeoutMs: 5_000, pollIntervalMs: 50 },
      restart: { initialDelayMs: 50, maxDelayMs: 400, jitter: 0, maxRestarts: 1, windowMs: 60_000 },
    });
    await expect(supervisor.start()).rejects.toMatchObject({ reason: 'restart_budget_exhausted' });
    expect(restarts.map((r) => r.cause)).toEqual(['startup_timeout']);
  });

  it('a start that stalls (no output, no progress) → restarted as a stall', async () => {
    const { supervisor, restarts } = supervise({
      model: 'local/model',
      serverArgs: ['--load-stall'],
      startup: { timeoutMs: 10_000, stallTimeoutMs: 700, pollIntervalMs: 50 },
      restart: { initialDelayMs: 50, maxDelayMs: 400, jitter: 0, maxRestarts: 1, windowMs: 60_000 },
    });
    await expect(supervisor.start()).rejects.toMatchObject({ reason: 'restart_budget_exhausted' });
    expect(restarts[0]!.cause).toBe('startup_stall');
  });

  it('bind failure that does not exit → killed and restarted on a fresh port', async () => {
    const { supervisor, restarts } = supervise({
      backend: 'command',
      command: [python, `${nativeHost}/standin`, '--port', '{port}', '--bind-failure'],
      restart: { initialDelayMs: 50, maxDelayMs: 400, jitter: 0, maxRestarts: 1, windowMs: 60_000 },
    });
    const pids: number[] = [];
    supervisor.onTransition((t) => t.to === 'stopping' && pids.push(supervisor.status.pid!));
    await expect(supervisor.start()).rejects.toMatchObject({ reason: 'restart_budget_exhausted' });
    expect(restarts[0]!.cause).toBe('bind_failure');
    expect(pids.every((pid) => !isAlive(pid))).toBe(true);
  });

  it('a fixed port taken by another process → fatal at once, naming the port', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as { port: number }).port;
    try {
      const { supervisor, restarts } = supervise({ port: taken });
      await expect(supervisor.start()).rejects.toMatchObject({ reason: 'port_taken', message: expect.stringContaining(`port ${taken} is taken`) });
      expect(restarts).toEqual([]);
    } finally {
      blocker.close();
    }
  });

  it('exit 2 (a flag the server does not know) → fatal at once, no restart loop', async () => {
    const { supervisor, restarts } = supervise({ serverArgs: ['--no-such-flag'] });
    await expect(supervisor.start()).rejects.toMatchObject({ reason: 'bad_arguments', message: expect.stringContaining('unrecognized arguments: --no-such-flag') });
    expect(restarts).toEqual([]);
    expect(supervisor.state).toBe('fatal');
    expect(supervisor.status.fatal?.reason).toBe('bad_arguments');
  });

  it('model not found → fatal at once, with the line that says so', async () => {
    const { supervisor, restarts } = supervise({ model: 'local/missing', serverArgs: ['--exit-during-load'] });
    await expect(supervisor.start()).rejects.toMatchObject({ reason: 'model_not_found', message: expect.stringContaining('No safetensors found in local/missing') });
    expect(restarts).toEqual([]);
  });

  it('a model that loaded before and is missing at a relaunch → restarted (load_failed), served again once it is back', async () => {
    const launchFaults = join(privateDir(), 'launch-faults.json');
    const { supervisor, restarts, nextReady } = supervise({ model: 'org/model', serverArgs: ['--launch-faults', launchFaults] });
    await supervisor.start();
    writeFileSync(launchFaults, JSON.stringify({ exit_during_load: true }));
    process.kill(supervisor.status.pid!, 'SIGKILL');
    await until('a relaunch that fails to load', () => (restarts.some((r) => r.cause === 'load_failed') ? true : undefined), 10_000);
    expect(supervisor.status.fatal).toBeUndefined();
    rmSync(launchFaults);
    await nextReady(1);
    expect(restarts[0]!.cause).toBe('crash');
    expect(restarts.find((r) => r.cause === 'load_failed')!.detail).toBe('the model could not be loaded, though it loaded before: FileNotFoundError: No safetensors found in org/model');
  });

  it('the restarts a request now known as poison caused (alone in flight at its second crash) spend no budget; a spent budget after serving is a cool-down', async () => {
    const { supervisor, restarts, nextReady } = supervise({ restart: { initialDelayMs: 50, maxDelayMs: 400, jitter: 0, maxRestarts: 1, windowMs: 60_000, coolDownMs: 1_500 } });
    await supervisor.start();
    const crashWith = async (digest: string, readyCount: number) => {
      const entry = supervisor.journal.begin({ id: digest, digest, bodyBytes: 10 });
      process.kill(supervisor.status.pid!, 'SIGKILL');
      await nextReady(readyCount);
      entry.end();
      return entry.verdict;
    };
    expect(await crashWith('d', 1)).toBe('suspect'); // spends the one restart the budget allows…
    expect(await crashWith('d', 2)).toBe('poison'); // …given back at its second crash, itself free
    expect(restarts.map((r) => r.cause)).toEqual(['crash', 'crash']);
    // The budget is whole again: one more crash is allowed…
    process.kill(supervisor.status.pid!, 'SIGKILL');
    await nextReady(3);
    // …and the next spends it: a server that has served cools down, then is tried again.
    process.kill(supervisor.status.pid!, 'SIGKILL');
    const until_ = await until('the cool-down', () => supervisor.status.coolingDownUntil, 10_000);
    expect(supervisor.state).toBe('backoff');
    expect(until_ - Date.now()).toBeGreaterThan(500);
    await nextReady(4);
    expect(supervisor.status.coolingDownUntil).toBeUndefined();
    expect(supervisor.status.fatal).toBeUndefined();
  });

  it('restart budget exhausted → fatal; the backoff grows as configured on the way', async () => {
    const { supervisor, restarts } = supervise({
      serverArgs: ['--crash-after-tokens', '0'],
      restart: { initialDelayMs: 50, multiplier: 2, maxDelayMs: 1_000, jitter: 0, maxRestarts: 3, windowMs: 60_000 },
    });
    await expect(supervisor.start()).rejects.toMatchObject({ reason: 'restart_budget_exhausted', message: expect.stringContaining('3 restarts') });
    expect(restarts.map((r) => [r.cause, r.relaunchInMs])).toEqual([
      ['metal_abort', 0],
      ['metal_abort', 50],
      ['metal_abort', 100],
    ]);
  });

  it('the inference breaker open past whenOpenForMs with a failing canary → restart, then the breaker is reset', async () => {
    const { supervisor, restarts, transitions, port, key, nextReady } = supervise({
      serverArgs: ['--control'],
      restart: { initialDelayMs: 50, maxDelayMs: 400, jitter: 0, maxRestarts: 5, windowMs: 60_000, whenOpenForMs: 200 },
      liveness: { canaryTimeoutMs: 300 },
    });
    const breaker = new CircuitBreaker({ name: 'inference' });
    supervisor.watchBreaker(breaker);
    await supervisor.start();
    await rawRequest(port(), post('/__standin/faults', '{"hang_after_prefill": true}', key()));
    const hold = breaker.isolate();
    expect(supervisor.state).toBe('degraded');
    await nextReady(1);
    expect(restarts[0]!.cause).toBe('breaker_open');
    expect(breaker.getState()).toBe('closed');
    hold.dispose();
    expect(transitions.map((t) => t.to)).toEqual(['starting', 'ready', 'degraded', 'stopping', 'backoff', 'starting', 'ready']);
  });

  it('a canary verdict on a child that was replaced meanwhile does not end its successor', async () => {
    const { supervisor, restarts, nextReady, port, key } = supervise({
      restart: { initialDelayMs: 50, maxDelayMs: 400, jitter: 0, maxRestarts: 5, windowMs: 60_000, whenOpenForMs: 100 },
      liveness: { canaryTimeoutMs: 1_000 },
    });
    const breaker = new CircuitBreaker({ name: 'inference' });
    supervisor.watchBreaker(breaker);
    await supervisor.start();
    const first = supervisor.status.pid!;
    process.kill(-first, 'SIGSTOP');
    // A full accept queue keeps the canary's connect pending even once the child is gone.
    const piled = Array.from({ length: 40 }, () => connect(port(), '127.0.0.1').on('error', () => undefined));
    try {
      // Open: 100 ms later a canary goes to the stopped child and waits out its 1 s deadline...
      breaker.isolate();
      await new Promise((resolve) => setTimeout(resolve, 300));
      // ...while the child dies and a new one starts.
      process.kill(-first, 'SIGKILL');
      await nextReady(1);
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      expect(restarts.map((r) => r.cause)).toEqual(['crash']);
      expect(supervisor.state).toBe('ready');
    } finally {
      for (const socket of piled) socket.destroy();
    }
  });

  it('ready ⇄ degraded follows the breaker; a passing canary keeps the child', async () => {
    const { supervisor, restarts } = supervise({ restart: { initialDelayMs: 50, maxDelayMs: 400, jitter: 0, maxRestarts: 5, windowMs: 60_000, whenOpenForMs: 100 } });
    const breaker = new CircuitBreaker({ name: 'inference' });
    supervisor.watchBreaker(breaker);
    await supervisor.start();
    const hold = breaker.isolate();
    expect(supervisor.state).toBe('degraded');
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(restarts).toEqual([]);
    hold.dispose();
    expect(supervisor.state).toBe('ready');
  });

  it('stop: SIGTERM to the group, the child gone, its record removed', async () => {
    const { supervisor, options } = supervise();
    await supervisor.start();
    const pid = supervisor.status.pid!;
    expect(readdirSync(options.runDir!)).toEqual([`child-${process.pid}.json`]);
    expect(statSync(join(options.runDir!, `child-${process.pid}.json`)).mode & 0o777).toBe(0o600);
    await supervisor.stop();
    expect(supervisor.state).toBe('stopped');
    expect(isAlive(pid)).toBe(false);
    expect(readdirSync(options.runDir!)).toEqual([]);
  });
});

describe('mlx-guard’s own death', () => {
  const fixture = fileURLToPath(new URL('../../fixtures/supervised.ts', import.meta.url));
  const startSupervised = async () => {
    const guard = spawnProcess(process.execPath, ['--import', 'tsx', fixture, privateDir()]);
    const { childPid } = await until('the supervised child', () => (guard.stdout[0] ? (JSON.parse(guard.stdout[0]) as { childPid: number }) : undefined), 15_000);
    return { guard, childPid };
  };

  it('SIGTERM → the child stopped first, then a clean exit', async () => {
    const { guard, childPid } = await startSupervised();
    process.kill(guard.pid, 'SIGTERM');
    expect(await guard.exited(10_000)).toEqual({ code: 0, signal: null });
    expect(isAlive(childPid)).toBe(false);
  });

  it('SIGKILL → the child gone within 2 s (the host’s stdin watchdog)', async () => {
    const { guard, childPid } = await startSupervised();
    try {
      process.kill(guard.pid, 'SIGKILL');
      await until('the child to exit after mlx-guard was killed', () => (isAlive(childPid) ? undefined : true), 2_000);
    } finally {
      if (isAlive(childPid)) process.kill(-childPid, 'SIGKILL');
    }
  });
});

describe('the mlx backend (a fake mlx_lm on PYTHONPATH stands in for the real one)', () => {
  const fakeMlx = fileURLToPath(new URL('../../fixtures/fake-mlx', import.meta.url));
  /** The model server inherits this process's environment, so PYTHONPATH picks its mlx_lm. */
  const withPythonPath = async <T>(path: string, run: () => Promise<T>): Promise<T> => {
    const saved = process.env.PYTHONPATH;
    process.env.PYTHONPATH = path;
    try {
      return await run();
    } finally {
      if (saved === undefined) delete process.env.PYTHONPATH;
      else process.env.PYTHONPATH = saved;
    }
  };

  it('runs mlx_lm.server through the host; a dying generation thread → restart as a zombie', async () => {
    await withPythonPath(fakeMlx, async () => {
      const { supervisor, restarts, port, key, nextReady } = supervise({ backend: 'mlx', model: 'org/model', python });
      await supervisor.start();
      expect(supervisor.state).toBe('ready');
      void rawRequest(port(), post('/die', '{}', key()), 10_000).catch(() => undefined);
      await nextReady(1);
      // The traceback line or the host's exit 4, whichever arrives first: the cause is the same.
      expect(restarts[0]!.cause).toBe('zombie');
    });
  });

  it('the host hooks mlx_lm’s own step (BatchGenerator.next): a step that never returns → restart as wedged', async () => {
    await withPythonPath(fakeMlx, async () => {
      const { supervisor, restarts, port, key, nextReady } = supervise({ backend: 'mlx', model: 'org/model', python, liveness: { stallMs: 1_500 } });
      await supervisor.start();
      void rawRequest(port(), post('/wedge', '{}', key()), 10_000).catch(() => undefined);
      await nextReady(1);
      expect(restarts[0]).toMatchObject({ cause: 'wedged' });
      expect(restarts[0]!.detail).toMatch(/^busy with 1 request\(s\) and no generation step/);
    });
  });

  it('a flag newer than the installed mlx_lm → fatal before launch, naming the version', async () => {
    const { mkdirSync, writeFileSync } = await import('node:fs');
    const old = mkdtempSync(join(tmpdir(), 'old-mlx-'));
    mkdirSync(join(old, 'mlx_lm'));
    writeFileSync(join(old, 'mlx_lm', '__init__.py'), '__version__ = "0.30.0"\n');
    await withPythonPath(old, async () => {
      const { supervisor } = supervise({ backend: 'mlx', model: 'org/model', python, serverArgs: ['--prompt-cache-bytes', '8GB'] });
      await expect(supervisor.start()).rejects.toMatchObject({
        reason: 'flag_unsupported',
        message: 'mlx_lm 0.30.0 does not know --prompt-cache-bytes (added in 0.31.0): upgrade mlx-lm or drop the flag',
      });
    });
  });
});
