import type { FatalReason } from './errors.js';
import { HOST_EXIT, type HostFatal } from './exit-codes.js';
import { findModelMissing } from './log-classifier.js';
import type { ChildExit } from './model-server-process.js';
import type { RestartCause } from './supervisor-types.js';

/** Whether an ended launch deserves a restart, and under which cause, or needs a person. */
export type LaunchVerdict = { kind: 'restart'; cause: RestartCause; detail: string; exit: ChildExit } | { kind: 'fatal'; reason: FatalReason; message: string };

/** What was seen of one launch, for the verdict on how it ended. */
export interface LaunchSeen {
  /** It ended before it was ever ready. */
  wasStarting: boolean;
  /** An earlier launch of this supervisor served (the model loaded then). */
  hasServed: boolean;
  /** The host's own `fatal` event, when it sent one. */
  hostFatal: HostFatal | undefined;
  /** A Metal abort line on stderr (the process then dies of SIGABRT). */
  sawMetal: boolean;
  /** A bind failure line (a server run without the host says so only on stderr). */
  sawBindFailure: boolean;
  /** The child's last log lines, oldest first. */
  lastLines: readonly string[];
  /** The model server's port was fixed by configuration (a taken port needs a person), not picked free. */
  fixedPort: number | undefined;
}

/**
 * The verdict on a launch that ended with `exit`, after `end` (the trigger that ended it: the
 * process exiting, or liveness, a manual restart...). Pure: everything it weighs is passed in.
 * The host's own fatal reasons and exit codes come first; stderr patterns only for a server run
 * without the host (backend "command") or what the host cannot know (a missing model).
 */
export function judgeLaunchEnd(end: { cause: RestartCause; detail: string }, exit: ChildExit, seen: LaunchSeen): LaunchVerdict {
  const fatal = (reason: FatalReason, message: string): LaunchVerdict => ({ kind: 'fatal', reason, message });
  const restart = (cause: RestartCause, detail: string): LaunchVerdict => ({ kind: 'restart', cause, detail, exit });
  const portTaken = () => fatal('port_taken', `port ${seen.fixedPort} is taken by another process: stop it or choose another port for the model server`);
  const last = (count: number) => seen.lastLines.slice(-count).join(' | ') || '(no output)';
  const fatalReason = seen.hostFatal?.reason;
  const bindFailed = fatalReason === 'address_in_use' || fatalReason === 'bind_failed' || exit.code === HOST_EXIT.bindFailed || seen.sawBindFailure;

  if (exit.spawnError) return fatal('spawn_failed', `could not start the model server: ${exit.spawnError}`);
  if (end.cause !== 'exit') {
    if (end.cause === 'bind_failure' && seen.fixedPort !== undefined) return portTaken();
    return restart(end.cause, end.detail);
  }
  if (fatalReason === 'bad_arguments' || exit.code === HOST_EXIT.badArguments) return fatal('bad_arguments', `the model server rejected its arguments (exit ${exit.code}): ${last(3)}`);
  if (fatalReason === 'mlx_lm_not_importable' || exit.code === HOST_EXIT.notImportable) {
    return fatal('mlx_lm_not_importable', `the model server's Python cannot import mlx_lm: ${seen.hostFatal?.error ?? last(3)}`);
  }
  const missing = seen.wasStarting ? findModelMissing(seen.lastLines.slice(-50)) : undefined;
  if (missing) {
    // A model that loaded before and is missing now changed underneath (a cache being rewritten,
    // a disk not mounted yet): tried again within the restart budget, then after a cool-down.
    // One that never loaded is a name or a path a person must fix.
    if (seen.hasServed) return restart('load_failed', `the model could not be loaded, though it loaded before: ${missing.trim()}`);
    return fatal('model_not_found', `the model could not be loaded: ${missing.trim()}. Check --model (a Hugging Face repo id, or a local folder with the weights).`);
  }
  if (bindFailed) return seen.fixedPort !== undefined ? portTaken() : restart('bind_failure', describeExit(exit));
  if (fatalReason === 'generation_thread_died' || exit.code === HOST_EXIT.generationDied) {
    return restart('zombie', `the generation thread died${seen.hostFatal?.error ? ` (${seen.hostFatal.error})` : ` (host exit ${exit.code})`}`);
  }
  if (seen.sawMetal || exit.signal === 'SIGABRT') return restart('metal_abort', describeExit(exit));
  return restart(exit.code === 0 ? 'exit' : 'crash', describeExit(exit));
}

export function describeExit(exit: ChildExit): string {
  if (exit.spawnError) return exit.spawnError;
  if (exit.unkillable) return 'did not exit even after SIGKILL';
  return exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
}
