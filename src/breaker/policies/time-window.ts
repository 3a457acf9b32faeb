import { snapshotMismatch, type PolicySnapshot, type RateThresholds, type TripPolicy } from './policy.js';

/**
 * Failure (and slow-call) rate over the last `windowMs`, in `buckets` equal slices of time.
 *
 * Buckets are addressed by absolute slice number (`floor(now / bucketMs)`), so an idle gap of any
 * length clears exactly the slices it spans, at most `buckets` of them: cockatiel's sampling
 * breaker advanced one bucket per call and kept stale failures after a gap (breaker_peers.md P8).
 */
export class TimeWindow implements TripPolicy {
  readonly needsClock = true;
  readonly bucketMs: number;
  readonly #bucketCalls: Float64Array;
  readonly #bucketFailures: Float64Array;
  readonly #bucketSlow: Float64Array;
  #newest = -Infinity;
  #calls = 0;
  #failures = 0;
  #slow = 0;

  constructor(
    windowMs: number,
    buckets: number,
    readonly thresholds: RateThresholds,
  ) {
    this.bucketMs = windowMs / buckets;
    this.#bucketCalls = new Float64Array(buckets);
    this.#bucketFailures = new Float64Array(buckets);
    this.#bucketSlow = new Float64Array(buckets);
  }

  record(failed: boolean, slow: boolean, nowMs: number): boolean {
    const slot = this.#advance(nowMs);
    this.#bucketCalls[slot]!++;
    this.#calls++;
    if (failed) {
      this.#bucketFailures[slot]!++;
      this.#failures++;
    }
    if (slow) {
      this.#bucketSlow[slot]!++;
      this.#slow++;
    }
    return (failed || slow) && this.thresholds.exceeded(this.#calls, this.#failures, this.#slow);
  }

  reset(): void {
    this.#bucketCalls.fill(0);
    this.#bucketFailures.fill(0);
    this.#bucketSlow.fill(0);
    this.#newest = -Infinity;
    this.#calls = this.#failures = this.#slow = 0;
  }

  toJSON(): PolicySnapshot {
    const size = this.#bucketCalls.length;
    const newest = Number.isFinite(this.#newest) ? this.#newest : 0;
    const buckets: Array<[number, number, number]> = [];
    for (let age = size - 1; age >= 0; age--) {
      const slot = this.#slotOf(newest - age);
      buckets.push([this.#bucketCalls[slot]!, this.#bucketFailures[slot]!, this.#bucketSlow[slot]!]);
    }
    return { type: 'time', bucketMs: this.bucketMs, newestBucket: newest, buckets };
  }

  restore(snapshot: PolicySnapshot): void {
    if (snapshot.type !== 'time') throw snapshotMismatch('time', snapshot);
    const valid =
      snapshot.bucketMs === this.bucketMs &&
      Number.isInteger(snapshot.newestBucket) &&
      Array.isArray(snapshot.buckets) &&
      snapshot.buckets.length === this.#bucketCalls.length &&
      snapshot.buckets.every((b) => Array.isArray(b) && b.length === 3 && b.every((n) => Number.isInteger(n) && n >= 0));
    if (!valid) {
      throw new RangeError(
        `CircuitBreaker option "initialState.window" must be a time window of ${this.#bucketCalls.length} buckets of ${this.bucketMs} ms, as toJSON() wrote it`,
      );
    }
    this.reset();
    this.#newest = snapshot.newestBucket;
    const size = this.#bucketCalls.length;
    snapshot.buckets.forEach(([calls, failures, slow], index) => {
      const slot = this.#slotOf(this.#newest - (size - 1 - index));
      this.#bucketCalls[slot] = calls;
      this.#bucketFailures[slot] = failures;
      this.#bucketSlow[slot] = slow;
      this.#calls += calls;
      this.#failures += failures;
      this.#slow += slow;
    });
  }

  #slotOf(bucket: number): number {
    const size = this.#bucketCalls.length;
    return ((bucket % size) + size) % size;
  }

  /** Moves the newest slice up to `nowMs`, clearing the slices in between; returns its slot. */
  #advance(nowMs: number): number {
    const bucket = Math.floor(nowMs / this.bucketMs);
    // A clock that steps back lands in the newest slice rather than rewriting history.
    if (bucket > this.#newest) {
      const size = this.#bucketCalls.length;
      const steps = Math.min(bucket - this.#newest, size);
      for (let i = steps - 1; i >= 0; i--) {
        const slot = this.#slotOf(bucket - i);
        this.#calls -= this.#bucketCalls[slot]!;
        this.#failures -= this.#bucketFailures[slot]!;
        this.#slow -= this.#bucketSlow[slot]!;
        this.#bucketCalls[slot] = this.#bucketFailures[slot] = this.#bucketSlow[slot] = 0;
      }
      this.#newest = bucket;
    }
    return this.#slotOf(this.#newest);
  }
}
