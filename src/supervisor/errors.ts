/** Why the supervisor gave up: each of these needs a person, not a restart. */
export type FatalReason =
  | 'bad_arguments'
  | 'mlx_lm_not_importable'
  | 'model_not_found'
  | 'model_required'
  | 'flag_unsupported'
  | 'port_taken'
  | 'spawn_failed'
  | 'run_dir_unusable'
  | 'model_download_failed'
  | 'restart_budget_exhausted';

export class SupervisorFatalError extends Error {
  readonly code = 'ERR_SUPERVISOR_FATAL' as const;

  constructor(
    readonly reason: FatalReason,
    message: string,
  ) {
    super(message);
    this.name = 'SupervisorFatalError';
  }
}

/**
 * Why a request sent to the model server was ended early: that server stopped serving (it died,
 * froze or wedged and is being restarted, or mlx-guard is stopping). The abort reason of
 * `Serving.lost`.
 */
export class ModelServerLostError extends Error {
  readonly code = 'ERR_MODEL_SERVER_LOST' as const;
  override name = 'ModelServerLostError';

  constructor(
    /** The restart cause, or 'stop'. */
    readonly reason: string,
    readonly detail: string,
  ) {
    super(reason === 'stop' ? 'mlx-guard is stopping the model server' : `the model server is being restarted (${reason}: ${detail})`);
  }
}
