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
 * How long the breaker stays open on its `attempt`-th opening in a row (1-based). Without
 * backoff every opening lasts `baseMs`; with it the duration grows geometrically up to `maxMs`.
 */
export function openDurationMs(attempt: number, baseMs: number, backoff: Required<RecoveryBackoffOptions> | undefined, random: () => number): number {
  if (backoff === undefined) return baseMs;
  const grown = Math.min(backoff.maxMs, baseMs * backoff.multiplier ** (attempt - 1));
  return grown * (1 - backoff.jitter * random());
}
