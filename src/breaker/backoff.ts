export interface RecoveryBackoffOptions {
  /** Each consecutive opening lasts this many times the previous one. Default 2. */
  multiplier?: number;
  /** The longest an opening may last, in milliseconds. */
  maxMs: number;
  /**
   * Fraction of each duration that is randomised away, 0..1: 0 none (default), 0.5 "equal
   * jitter" (between half and all of it), 1 "full jitter" (anywhere from 0 to all of it).
   */
  jitter?: number;
}

/**
 * Exponential backoff, the one implementation (the breaker's openings, the supervisor's
 * restarts): the `step`-th wait in a row (0-based) is `baseMs × multiplier^step`, capped at
 * `maxMs`, with the share `jitter` of it randomised away (`random` gives [0, 1)).
 */
export function backoffDelayMs(step: number, options: { baseMs: number } & Required<RecoveryBackoffOptions>, random: () => number): number {
  const grown = Math.min(options.maxMs, options.baseMs * options.multiplier ** step);
  return grown * (1 - options.jitter * random());
}

/**
 * How long the breaker stays open on its `attempt`-th opening in a row (1-based). Without
 * backoff every opening lasts `baseMs`; with it the duration grows geometrically up to `maxMs`.
 */
export function openDurationMs(attempt: number, baseMs: number, backoff: Required<RecoveryBackoffOptions> | undefined, random: () => number): number {
  return backoff === undefined ? baseMs : backoffDelayMs(attempt - 1, { baseMs, ...backoff }, random);
}
