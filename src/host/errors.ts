/** Why the supervisor gave up: each of these needs a person, not a restart. */
export type FatalReason =
  | 'bad_arguments'
  | 'mlx_lm_not_importable'
  | 'model_not_found'
  | 'model_required'
  | 'flag_unsupported'
  | 'port_taken'
  | 'spawn_failed'
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
