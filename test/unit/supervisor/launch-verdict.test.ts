import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HOST_EXIT } from '../../../src/supervisor/exit-codes.js';
import { judgeLaunchEnd, type LaunchSeen } from '../../../src/supervisor/launch-verdict.js';

const seen = (overrides: Partial<LaunchSeen> = {}): LaunchSeen => ({ wasStarting: false, hasServed: false, hostFatal: undefined, sawMetal: false, sawBindFailure: false, lastLines: [], fixedPort: undefined, ...overrides });
const exited = { cause: 'exit' as const, detail: 'exited' };

describe('the verdict on how a launch ended', () => {
  it('mirrors the host\'s exit codes', () => {
    const host = readFileSync(new URL('../../../native-host/mlx_host.py', import.meta.url), 'utf8');
    const python = Object.fromEntries([...host.matchAll(/^EXIT_([A-Z_]+) = (\d+)/gm)].map(([, name, code]) => [name, Number(code)]));
    expect(python).toEqual({ SERVER_FAILED: HOST_EXIT.serverFailed, BAD_ARGUMENTS: HOST_EXIT.badArguments, NOT_IMPORTABLE: HOST_EXIT.notImportable, GENERATION_DIED: HOST_EXIT.generationDied, PARENT_GONE: HOST_EXIT.parentGone, BIND_FAILED: HOST_EXIT.bindFailed });
  });

  it('the host\'s own fatal reason decides, before exit codes and stderr', () => {
    expect(judgeLaunchEnd(exited, { code: 1, signal: null }, seen({ hostFatal: { reason: 'mlx_lm_not_importable', error: 'No module named mlx_lm' } }))).toEqual({
      kind: 'fatal',
      reason: 'mlx_lm_not_importable',
      message: "the model server's Python cannot import mlx_lm: No module named mlx_lm",
    });
    expect(judgeLaunchEnd(exited, { code: 1, signal: null }, seen({ hostFatal: { reason: 'generation_thread_died', error: 'RuntimeError: boom' } }))).toMatchObject({ kind: 'restart', cause: 'zombie', detail: 'the generation thread died (RuntimeError: boom)' });
    expect(judgeLaunchEnd(exited, { code: 1, signal: null }, seen({ hostFatal: { reason: 'address_in_use' } }))).toMatchObject({ kind: 'restart', cause: 'bind_failure' });
    expect(judgeLaunchEnd(exited, { code: 1, signal: null }, seen({ hostFatal: { reason: 'address_in_use' }, fixedPort: 8081 }))).toMatchObject({ kind: 'fatal', reason: 'port_taken' });
  });

  it('without a fatal event: exit codes, then what the log shows, then crash or exit', () => {
    expect(judgeLaunchEnd(exited, { code: HOST_EXIT.badArguments, signal: null }, seen({ lastLines: ['usage: …', 'error: unrecognized arguments: --x'] }))).toMatchObject({ kind: 'fatal', reason: 'bad_arguments' });
    expect(judgeLaunchEnd(exited, { code: HOST_EXIT.generationDied, signal: null }, seen())).toMatchObject({ kind: 'restart', cause: 'zombie' });
    expect(judgeLaunchEnd(exited, { code: 1, signal: null }, seen({ wasStarting: true, lastLines: ['huggingface_hub.errors.RepositoryNotFoundError: 404 Client Error. Repository Not Found for url: x'] }))).toMatchObject({ kind: 'fatal', reason: 'model_not_found' });
    // Missing at a relaunch, after it had loaded and served: tried again, not given up on.
    expect(judgeLaunchEnd(exited, { code: 1, signal: null }, seen({ wasStarting: true, hasServed: true, lastLines: ['FileNotFoundError: No safetensors found in org/model'] }))).toMatchObject({
      kind: 'restart',
      cause: 'load_failed',
      detail: 'the model could not be loaded, though it loaded before: FileNotFoundError: No safetensors found in org/model',
    });
    expect(judgeLaunchEnd(exited, { code: null, signal: 'SIGABRT' }, seen())).toMatchObject({ kind: 'restart', cause: 'metal_abort', detail: 'killed by SIGABRT' });
    expect(judgeLaunchEnd(exited, { code: null, signal: 'SIGKILL' }, seen({ sawMetal: true }))).toMatchObject({ kind: 'restart', cause: 'metal_abort' });
    expect(judgeLaunchEnd(exited, { code: 1, signal: null }, seen())).toMatchObject({ kind: 'restart', cause: 'crash', detail: 'exited with code 1' });
    expect(judgeLaunchEnd(exited, { code: 0, signal: null }, seen())).toMatchObject({ kind: 'restart', cause: 'exit' });
    expect(judgeLaunchEnd(exited, { code: null, signal: null, spawnError: 'ENOENT python3' }, seen())).toMatchObject({ kind: 'fatal', reason: 'spawn_failed' });
  });

  it('a launch ended by the supervisor (liveness, a manual restart) restarts with that cause', () => {
    expect(judgeLaunchEnd({ cause: 'frozen', detail: 'no heartbeat for 4 s' }, { code: null, signal: 'SIGKILL' }, seen())).toMatchObject({ kind: 'restart', cause: 'frozen', detail: 'no heartbeat for 4 s' });
    expect(judgeLaunchEnd({ cause: 'bind_failure', detail: 'Address already in use' }, { code: null, signal: 'SIGTERM' }, seen({ fixedPort: 9000 }))).toMatchObject({ kind: 'fatal', reason: 'port_taken' });
  });
});
