import { FAILED, SLOW, snapshotMismatch, type PolicySnapshot, type RateThresholds, type TripPolicy } from './policy.js';

/** Failure (and slow-call) rate over the last `size` outcomes, kept in a ring: O(1) per outcome. */
export class CountWindow implements TripPolicy {
  readonly needsClock = false;
  readonly #ring: Uint8Array;
  #next = 0;
  #filled = 0;
  #failures = 0;
  #slow = 0;

  constructor(
    size: number,
    readonly thresholds: RateThresholds,
  ) {
    this.#ring = new Uint8Array(size);
  }

  record(failed: boolean, slow: boolean): boolean {
    const ring = this.#ring;
    if (this.#filled === ring.length) {
      const evicted = ring[this.#next]!;
      this.#failures -= evicted & FAILED;
      this.#slow -= (evicted & SLOW) >> 1;
    } else {
      this.#filled++;
    }
    ring[this.#next] = (failed ? FAILED : 0) | (slow ? SLOW : 0);
    if (failed) this.#failures++;
    if (slow) this.#slow++;
    this.#next = this.#next + 1 === ring.length ? 0 : this.#next + 1;
    return (failed || slow) && this.thresholds.exceeded(this.#filled, this.#failures, this.#slow);
  }

  reset(): void {
    this.#ring.fill(0);
    this.#next = this.#filled = this.#failures = this.#slow = 0;
  }

  toJSON(): PolicySnapshot {
    const ring = this.#ring;
    const start = this.#filled === ring.length ? this.#next : 0;
    const outcomes: number[] = [];
    for (let i = 0; i < this.#filled; i++) outcomes.push(ring[(start + i) % ring.length]!);
    return { type: 'count', outcomes };
  }

  restore(snapshot: PolicySnapshot): void {
    if (snapshot.type !== 'count') throw snapshotMismatch('count', snapshot);
    if (!Array.isArray(snapshot.outcomes) || snapshot.outcomes.some((o) => !Number.isInteger(o) || o < 0 || o > (FAILED | SLOW))) {
      throw new RangeError('CircuitBreaker option "initialState.window.outcomes" must be an array of outcome codes 0..3');
    }
    this.reset();
    // Replaying keeps only the newest `size` outcomes if the window was made smaller since.
    for (const outcome of snapshot.outcomes) this.record((outcome & FAILED) !== 0, (outcome & SLOW) !== 0);
  }
}
