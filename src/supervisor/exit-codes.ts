/**
 * Exit codes of native-host/mlx_host.py (its EXIT_* constants; a test compares them), and the
 * reasons of its `fatal` events: the host says why it ends, so the supervisor does not have to
 * guess from stderr.
 */
export const HOST_EXIT = {
  serverFailed: 1,
  badArguments: 2,
  notImportable: 3,
  generationDied: 4,
  parentGone: 5,
  bindFailed: 6,
} as const;

export type HostFatalReason = 'generation_thread_died' | 'address_in_use' | 'bind_failed' | 'mlx_lm_not_importable' | 'bad_arguments' | 'server_failed';

/** The host's last `fatal` event of a launch, if it sent one. */
export interface HostFatal {
  reason: HostFatalReason | string;
  error?: string;
}
