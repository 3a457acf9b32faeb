import { describe, expect, it } from 'vitest';
import { classifyLine, findModelMissing } from '../../../src/supervisor/log-classifier.js';
import { planLaunch } from '../../../src/supervisor/launch-plan.js';
import { resolveSupervisorOptions } from '../../../src/supervisor/options.js';

describe('supervisor options', () => {
  it('fill every default', () => {
    const options = resolveSupervisorOptions({});
    expect(options).toMatchObject({
      backend: 'auto',
      host: '127.0.0.1',
      startup: { timeoutMs: 180_000, stallTimeoutMs: 60_000 },
      liveness: { heartbeatTimeoutMs: 4_000, stallMs: 60_000, idleCanaryIntervalMs: 0 },
      restart: { initialDelayMs: 1_000, maxDelayMs: 300_000, maxRestarts: 5, windowMs: 900_000, stableAfterMs: 600_000 },
      stop: { graceMs: 10_000 },
      logLines: 200,
    });
  });

  it('name the field and what is allowed when invalid', () => {
    expect(() => resolveSupervisorOptions({ restart: { maxDelayMs: -1 } })).toThrow(/→ at restart\.maxDelayMs/);
    expect(() => resolveSupervisorOptions({ backend: 'ollama' as never })).toThrow(/expected one of "auto"\|"mlx"\|"standin"\|"command"[\s\S]*→ at backend/);
    expect(() => resolveSupervisorOptions({ startupTimeout: 5 } as never)).toThrow(/Unrecognized key: "startupTimeout"/);
    expect(() => resolveSupervisorOptions({ backend: 'command', command: ['llama-server'] })).toThrow(/needs a command whose arguments contain \{port\}[\s\S]*→ at command/);
  });
});

describe('launch plans', () => {
  it('command: the argv with {port} filled in, no host wrapper', async () => {
    const plan = await planLaunch(resolveSupervisorOptions({ backend: 'command', command: ['llama-server', '-m', 'x.gguf', '--port', '{port}'] }));
    expect(plan.viaHost).toBe(false);
    expect(plan.argv(8123)).toEqual(['llama-server', ['-m', 'x.gguf', '--port', '8123']]);
  });

  it('standin: through mlx_host.py, events on fd 3, the server flags after --', async () => {
    const plan = await planLaunch(resolveSupervisorOptions({ backend: 'standin', model: 'org/m', serverArgs: ['--token-delay-ms', '5'] }));
    const [file, args] = plan.argv(9000);
    expect(file).toBe('python3');
    expect(args.slice(1)).toEqual(['--backend', 'standin', '--events-fd', '3', '--', '--model', 'org/m', '--host', '127.0.0.1', '--port', '9000', '--token-delay-ms', '5']);
    expect(args[0]).toMatch(/native-host\/mlx_host\.py$/);
  });

  it('auto off Apple Silicon (or without mlx_lm): the stand-in, said loudly', async () => {
    const plan = await planLaunch(resolveSupervisorOptions({ backend: 'auto', python: 'python3' }));
    if (process.platform === 'darwin' && process.arch === 'arm64') return; // a Mac may have mlx_lm
    expect(plan.backend).toBe('standin');
    expect(plan.notice).toMatch(/STAND-IN server: placeholder text, not a model/);
  });

  it('mlx without mlx_lm, or without a model: a fatal error naming the fix', async () => {
    await expect(planLaunch(resolveSupervisorOptions({ backend: 'mlx', model: 'm', python: 'python3' }))).rejects.toMatchObject({
      reason: 'mlx_lm_not_importable',
      message: expect.stringContaining('pip install mlx-lm'),
    });
  });

  it('local model paths load with HF_HUB_OFFLINE=1', async () => {
    const plan = await planLaunch(resolveSupervisorOptions({ backend: 'standin', model: process.cwd() }));
    expect(plan.env.HF_HUB_OFFLINE).toBe('1');
    expect((await planLaunch(resolveSupervisorOptions({ backend: 'standin', model: 'org/repo' }))).env.HF_HUB_OFFLINE).toBeUndefined();
  });
});

describe('reading the model server’s output', () => {
  it('recognises the zombie, the Metal abort, the bind failure, the listening line and progress bars', () => {
    expect(classifyLine('Exception in thread Thread-1 (_generate):')).toEqual({ kind: 'zombie' });
    // mlx-lm >= 0.32.0 catches the exception itself and logs it (seen on the real 0.32.2).
    expect(classifyLine('2026-12-06 11:14:58,249 - ERROR - mlx_lm.server generation thread died: boom')).toEqual({ kind: 'zombie' });
    expect(classifyLine('libc++abi: terminating due to uncaught exception of type std::runtime_error: [METAL] Command buffer execution failed: Insufficient Memory')).toEqual({ kind: 'metal_abort' });
    expect(classifyLine('OSError: [Errno 48] Address already in use')).toEqual({ kind: 'bind_failure' });
    expect(classifyLine('2026-08-22 10:00:00,123 - INFO - Starting httpd at 127.0.0.1 on port 8080...')).toEqual({ kind: 'listening', port: 8080 });
    expect(classifyLine('Fetching 9 files:  44%|████      | 4/9 [00:01<00:02, 2.95it/s]')).toEqual({ kind: 'progress', percent: 44, text: 'Fetching 9 files 44%' });
    expect(classifyLine('Exception in thread Thread-3 (process_request_thread):')).toEqual({ kind: 'other' });
    expect(classifyLine('127.0.0.1 - - [22/Aug/2026 10:00:05] "POST /v1/chat/completions HTTP/1.1" 200 -')).toEqual({ kind: 'other' });
  });

  it('still does when a line begins in the middle of the download bar (two threads share stderr, the bar ends its line only when done)', () => {
    const bar = 'Fetching 9 files:  44%|████      | 4/9';
    expect(classifyLine(`${bar}2026-12-06 09:23:32,979 - INFO - Starting httpd at 127.0.0.1 on port 8081...`)).toEqual({ kind: 'listening', port: 8081 });
    expect(classifyLine(`${bar}Exception in thread Thread-1 (_generate):`)).toEqual({ kind: 'zombie' });
    expect(classifyLine(`${bar}libc++abi: terminating due to uncaught exception of type std::runtime_error: [METAL] Command buffer execution failed: Insufficient Memory`)).toEqual({ kind: 'metal_abort' });
    // Another thread's exception is no zombie: the line is the bar's.
    expect(classifyLine(`${bar}Exception in thread Thread-3 (process_request_thread):`)).toEqual({ kind: 'progress', percent: 44, text: 'Fetching 9 files 44%' });
    expect(classifyLine('Fetching 9 files:  11%|█         | 1/9\rFetching 9 files:  22%|██        | 2/9')).toEqual({ kind: 'progress', percent: 22, text: 'Fetching 9 files 22%' });
  });

  it('finds the line that says the model is missing', () => {
    const lines = ['Traceback (most recent call last):', '  File "x.py", line 1', 'huggingface_hub.errors.RepositoryNotFoundError: 404 Client Error.'];
    expect(findModelMissing(lines)).toBe(lines[2]);
    expect(findModelMissing(['RuntimeError: [metal::malloc] Resource limit (499000) exceeded.'])).toBeUndefined();
  });
});
