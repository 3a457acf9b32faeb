// Property: the O(1) count and time windows decide exactly as a naive list of every outcome
// would, whatever the order of outcomes and however long the idle gaps between them.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CountWindow } from '../../../src/breaker/policies/count-window.js';
import { RateThresholds } from '../../../src/breaker/policies/policy.js';
import { TimeWindow } from '../../../src/breaker/policies/time-window.js';

interface Step {
  failed: boolean;
  slow: boolean;
  gapMs: number;
}

const steps = fc.array(
  fc.record({
    failed: fc.boolean(),
    slow: fc.boolean(),
    // Mostly short gaps, sometimes idle for several windows.
    gapMs: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 400 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 50_000 }) }),
  }),
  { minLength: 1, maxLength: 300 },
);
const thresholds = fc.record({
  minimumCalls: fc.integer({ min: 1, max: 8 }),
  failureRate: fc.double({ min: 0, max: 0.99, noNaN: true }),
  slowRate: fc.double({ min: 0, max: 0.99, noNaN: true }),
});

function naiveExceeded(kept: Step[], t: { minimumCalls: number; failureRate: number; slowRate: number }): boolean {
  const calls = kept.length;
  if (calls < t.minimumCalls) return false;
  const failures = kept.filter((s) => s.failed).length;
  const slow = kept.filter((s) => s.slow).length;
  return failures / calls > t.failureRate || slow / calls > t.slowRate;
}

describe('trip windows against a naive list of outcomes', () => {
  it('the count window keeps exactly the last `size` outcomes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), thresholds, steps, (size, t, outcomes) => {
        const window = new CountWindow(size, new RateThresholds(t.minimumCalls, t.failureRate, t.slowRate));
        const seen: Step[] = [];
        for (const step of outcomes) {
          seen.push(step);
          const tripped = window.record(step.failed, step.slow);
          expect(tripped).toBe((step.failed || step.slow) && naiveExceeded(seen.slice(-size), t));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the time window keeps exactly the outcomes of its last `buckets` slices, across any idle gap', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 2_000 }), thresholds, steps, (buckets, bucketMs, t, outcomes) => {
        const window = new TimeWindow(buckets * bucketMs, buckets, new RateThresholds(t.minimumCalls, t.failureRate, t.slowRate));
        const seen: Array<Step & { at: number }> = [];
        let now = 1_700_000_000_000;
        for (const step of outcomes) {
          now += step.gapMs;
          seen.push({ ...step, at: now });
          const newest = Math.floor(now / bucketMs);
          const kept = seen.filter((s) => Math.floor(s.at / bucketMs) > newest - buckets);
          expect(window.record(step.failed, step.slow, now)).toBe((step.failed || step.slow) && naiveExceeded(kept, t));
        }
      }),
      { numRuns: 300 },
    );
  });
});
