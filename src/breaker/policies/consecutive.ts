import { snapshotMismatch, type PolicySnapshot, type TripPolicy } from './policy.js';

/** Opens after `threshold` failures in a row; any success starts the count again. The default. */
export class ConsecutiveFailures implements TripPolicy {
  readonly needsClock = false;
  #failures = 0;

  constructor(readonly threshold: number) {}

  record(failed: boolean): boolean {
    if (!failed) {
      this.#failures = 0;
      return false;
    }
    return ++this.#failures >= this.threshold;
  }

  reset(): void {
    this.#failures = 0;
  }

  toJSON(): PolicySnapshot {
    return { type: 'consecutive', consecutiveFailures: this.#failures };
  }

  restore(snapshot: PolicySnapshot): void {
    if (snapshot.type !== 'consecutive') throw snapshotMismatch('consecutive', snapshot);
    if (!Number.isInteger(snapshot.consecutiveFailures) || snapshot.consecutiveFailures < 0) {
      throw new RangeError('CircuitBreaker option "initialState.window.consecutiveFailures" must be an integer >= 0');
    }
    this.#failures = snapshot.consecutiveFailures;
  }
}
