/**
 * A trip policy watches the outcomes of calls made while the breaker is closed and says when it
 * should open. Each policy costs O(1) per outcome and holds a fixed amount of memory.
 */
export interface TripPolicy {
  /** Whether `record` needs the current time (the breaker reads its clock only if so). */
  readonly needsClock: boolean;
  /** Records one outcome of a closed-state call; returns true when the breaker should open. */
  record(failed: boolean, slow: boolean, nowMs: number): boolean;
  /** Forgets every outcome (the breaker closed, or was reset). */
  reset(): void;
  toJSON(): PolicySnapshot;
  /** Loads a snapshot made by `toJSON` of the same kind of policy; throws a RangeError otherwise. */
  restore(snapshot: PolicySnapshot): void;
}

export type PolicySnapshot =
  | { type: 'consecutive'; consecutiveFailures: number }
  | { type: 'count'; outcomes: number[] }
  | { type: 'time'; bucketMs: number; newestBucket: number; buckets: Array<[calls: number, failures: number, slow: number]> };

/** Bits of one outcome as the windows store it. */
export const FAILED = 1;
export const SLOW = 2;

/**
 * The rate test shared by the windowed policies. Rates must be strictly above their threshold,
 * as in opossum and cockatiel: at 50 % with a threshold of 0.5 the breaker stays closed.
 */
export class RateThresholds {
  constructor(
    readonly minimumCalls: number,
    readonly failureRateThreshold: number,
    readonly slowCallRateThreshold: number,
  ) {}

  exceeded(calls: number, failures: number, slow: number): boolean {
    if (calls < this.minimumCalls || calls === 0) return false;
    return failures / calls > this.failureRateThreshold || slow / calls > this.slowCallRateThreshold;
  }
}

export function snapshotMismatch(expected: PolicySnapshot['type'], snapshot: { type?: unknown }): RangeError {
  return new RangeError(
    `CircuitBreaker option "initialState.window" holds a "${String(snapshot.type)}" window but the breaker's tripPolicy is "${expected}"`,
  );
}
