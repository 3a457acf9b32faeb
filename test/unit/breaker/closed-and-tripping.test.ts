// Behaviour scenarios A1–A14 (closed state and tripping), plus
// the peers' counting pitfalls (P1, P2, P5, P8, P11), against this breaker's API.
import { describe, expect, it } from 'vitest';
import {
  CircuitBreaker,
  CircuitBreakerError,
  CircuitBreakerTimeoutError,
  isBreakerError,
  type CircuitBreakerOptions,
  type StateChange,
} from '../../../src/index.js';
import { manualClock } from '../../support/clock.js';
import { deferred } from '../../support/deferred.js';

const boom = () => {
  throw new Error('boom');
};
const ok = () => 'ok';

/** Runs one outcome through the breaker: 's' success, 'f' failure; refusals are returned, not thrown. */
function run(breaker: CircuitBreaker, outcome: 's' | 'f'): 'ran' | 'refused' {
  try {
    breaker.call(outcome === 's' ? ok : boom);
  } catch (error) {
    if (error instanceof CircuitBreakerError) return 'refused';
  }
  return 'ran';
}

function runAll(breaker: CircuitBreaker, outcomes: string): void {
  for (const o of outcomes) run(breaker, o as 's' | 'f');
}

function recordChanges(breaker: CircuitBreaker): StateChange[] {
  const changes: StateChange[] = [];
  breaker.onStateChange((change) => changes.push(change));
  return changes;
}

describe('A. closed state and tripping', () => {
  it('A1: a successful call returns the function’s value, with the arguments passed unchanged', async () => {
    const breaker = new CircuitBreaker();
    const args: unknown[] = [];
    const echo = (a: number, b: { deep: string[] }, c?: string) => {
      args.push(a, b, c);
      return a * 2;
    };
    const object = { deep: ['x'] };
    expect(breaker.call(echo, 21, object, undefined)).toBe(42);
    expect(args[1]).toBe(object);
    expect(args).toHaveLength(3);
    await expect(breaker.call(async (x: string) => x.toUpperCase(), 'hi')).resolves.toBe('HI');
  });

  it('A2: a failing call rethrows the function’s own error; isBreakerError tells it from the breaker’s', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, timeout: 1 });
    const own = new TypeError('own');
    const caught = (() => {
      try {
        breaker.call(() => {
          throw own;
        });
      } catch (error) {
        return error;
      }
    })();
    expect(caught).toBe(own);
    expect(isBreakerError(own)).toBe(false);
    const refusal = (() => {
      try {
        breaker.call(ok);
      } catch (error) {
        return error;
      }
    })();
    expect(isBreakerError(refusal)).toBe(true);
    expect(isBreakerError(new CircuitBreakerTimeoutError('b', 1))).toBe(true);
  });

  it('A3: with threshold N, N−1 failures stay closed; the Nth opens once; the next call is refused without running', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3 });
    const changes = recordChanges(breaker);
    const failures: unknown[] = [];
    breaker.onFailure(({ error }) => failures.push(error));
    let invocations = 0;
    const failing = () => {
      invocations++;
      throw new Error(`failure ${invocations}`);
    };
    for (let i = 0; i < 2; i++) expect(() => breaker.call(failing)).toThrow('failure');
    expect(breaker.getState()).toBe('closed');
    expect(() => breaker.call(failing)).toThrow('failure 3');
    expect(breaker.getState()).toBe('open');
    expect(changes.map((c) => [c.toState, c.reason])).toEqual([['open', 'failure_threshold']]);
    expect(() => breaker.call(failing)).toThrow(CircuitBreakerError);
    expect(invocations).toBe(3);
    expect((failures.at(-1) as Error).message).toBe('failure 3');
  });

  it('A4: a success resets the consecutive count (F F S F F stays closed, the next F opens)', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3 });
    runAll(breaker, 'ffsff');
    expect(breaker.getState()).toBe('closed');
    runAll(breaker, 'f');
    expect(breaker.getState()).toBe('open');
  });

  it('A5: a rate threshold with a minimum of one call opens on a failing first call', () => {
    const breaker = new CircuitBreaker({ tripPolicy: { type: 'count', windowSize: 10, minimumCalls: 1, failureRateThreshold: 0.1 } });
    runAll(breaker, 'f');
    expect(breaker.getState()).toBe('open');
  });

  it('A6: a minimum of 3 calls at a 1 % threshold: failures 1 and 2 stay closed, failure 3 opens', () => {
    const breaker = new CircuitBreaker({ tripPolicy: { type: 'count', windowSize: 10, minimumCalls: 3, failureRateThreshold: 0.01 } });
    runAll(breaker, 'ff');
    expect(breaker.getState()).toBe('closed');
    runAll(breaker, 'f');
    expect(breaker.getState()).toBe('open');
  });

  it('A7: count window 100 / minimum 50 / 50 %: 49 failures, then exactly 50 %, stay closed; 26 of 50 opens', () => {
    const options: CircuitBreakerOptions = { tripPolicy: { type: 'count', windowSize: 100, minimumCalls: 50, failureRateThreshold: 0.5 } };
    const belowMinimum = new CircuitBreaker(options);
    runAll(belowMinimum, 'f'.repeat(49));
    expect(belowMinimum.getState()).toBe('closed');

    const exactlyHalf = new CircuitBreaker(options);
    runAll(exactlyHalf, 's'.repeat(25) + 'f'.repeat(25));
    expect(exactlyHalf.getState()).toBe('closed');

    const overHalf = new CircuitBreaker(options);
    runAll(overHalf, 's'.repeat(24) + 'f'.repeat(25));
    expect(overHalf.getState()).toBe('closed');
    runAll(overHalf, 'f');
    expect(overHalf.getState()).toBe('open');
  });

  it('A8: a count window only counts its last `size` outcomes, also when saved and restored after every call', () => {
    const policy = { type: 'count', windowSize: 5, minimumCalls: 5, failureRateThreshold: 0.5 } as const;
    // f f f s s | s s f f: the oldest three failures slide out, so 2/5 failures never exceed 50 %.
    const outcomes = 'fffsssff';
    let breaker = new CircuitBreaker({ tripPolicy: policy });
    for (const outcome of outcomes) {
      run(breaker, outcome as 's' | 'f');
      breaker = new CircuitBreaker({ tripPolicy: policy, initialState: breaker.toJSON() });
    }
    expect(breaker.getState()).toBe('closed');
    expect(breaker.toJSON().window).toEqual({ type: 'count', outcomes: [0, 0, 0, 1, 1] });
    run(breaker, 'f'); // s s f f f: 3/5
    expect(breaker.getState()).toBe('open');
  });

  it('A9: a time window forgets outcomes older than its length, also when restored every second', () => {
    const clock = manualClock();
    const policy = { type: 'time', windowMs: 5_000, buckets: 5, minimumCalls: 4, failureRateThreshold: 0.5 } as const;
    let breaker = new CircuitBreaker({ tripPolicy: policy, clock: clock.now });
    runAll(breaker, 'fff'); // t = 0 s
    for (let second = 0; second < 5; second++) {
      clock.advance(1_000);
      breaker = new CircuitBreaker({ tripPolicy: policy, clock: clock.now, initialState: breaker.toJSON() });
    }
    // The three failures are now 5 s old: gone. One new failure is 1 call of 1: below the minimum.
    runAll(breaker, 'fss');
    expect(breaker.getState()).toBe('closed');
    runAll(breaker, 'f'); // 2 of 4 = 50 %: not above
    expect(breaker.getState()).toBe('closed');
    runAll(breaker, 'f'); // 3 of 5 = 60 %
    expect(breaker.getState()).toBe('open');
  });

  it('A10: a time window’s minimum: below it failures never open; above it a rate over the threshold does', () => {
    const clock = manualClock();
    const policy = { type: 'time', windowMs: 10_000, minimumCalls: 6, failureRateThreshold: 0.5 } as const;
    const sparse = new CircuitBreaker({ tripPolicy: policy, clock: clock.now });
    for (let i = 0; i < 5; i++) {
      runAll(sparse, 'f');
      clock.advance(2_100); // each failure has left the window before the sixth call
    }
    expect(sparse.getState()).toBe('closed');

    const busy = new CircuitBreaker({ tripPolicy: policy, clock: clock.now });
    runAll(busy, 'sssfff');
    expect(busy.getState()).toBe('closed'); // exactly 50 %
    runAll(busy, 'f');
    expect(busy.getState()).toBe('open');
  });

  it('A11/P8: after an idle gap longer than the window, old failures are gone (cockatiel kept them)', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({
      tripPolicy: { type: 'time', windowMs: 10_000, buckets: 5, minimumCalls: 2, failureRateThreshold: 0.5 },
      clock: clock.now,
    });
    runAll(breaker, 'f'); // 1 call: below the minimum
    clock.advance(1_000);
    runAll(breaker, 's'); // 1 of 2 failed: 50 %, not above
    clock.advance(60_000);
    runAll(breaker, 'sf'); // only these two count: 50 %
    expect(breaker.getState()).toBe('closed');
  });

  it('A13: a call that started closed and succeeds after the breaker opened does not close it', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1 });
    const slow = deferred<string>();
    const pending = breaker.call(() => slow.promise);
    runAll(breaker, 'f');
    expect(breaker.getState()).toBe('open');
    slow.resolve('late');
    await expect(pending).resolves.toBe('late');
    expect(breaker.getState()).toBe('open');
    expect(breaker.getMetrics().successes).toBe(1);
  });

  it('A14: failures landing after the breaker opened do not postpone the move to half-open', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, recoveryTimeout: 1_000, clock: clock.now });
    const inFlight = [deferred(), deferred(), deferred()];
    const calls = inFlight.map((d) => breaker.call(() => d.promise).catch(() => 'failed'));
    runAll(breaker, 'f');
    clock.advance(900);
    for (const d of inFlight) d.reject(new Error('late failure'));
    await Promise.all(calls);
    clock.advance(100);
    expect(breaker.getState()).toBe('half_open');
  });

  it('P1: a synchronous function returning undefined is a success (opossum counted a TypeError)', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1 });
    expect(breaker.call(() => undefined)).toBeUndefined();
    expect(breaker.getMetrics()).toMatchObject({ successes: 1, failures: 0 });
    expect(breaker.getState()).toBe('closed');
  });

  it('P2: the window is forgotten on close, so one failure after recovery does not reopen it', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({
      tripPolicy: { type: 'count', windowSize: 10, minimumCalls: 1, failureRateThreshold: 0.5 },
      recoveryTimeout: 1_000,
      clock: clock.now,
    });
    runAll(breaker, 'sf');
    expect(breaker.getState()).toBe('closed'); // 50 %
    runAll(breaker, 'f');
    expect(breaker.getState()).toBe('open');
    clock.advance(1_000);
    runAll(breaker, 's');
    expect(breaker.getState()).toBe('closed');
    runAll(breaker, 'ss');
    runAll(breaker, 'f'); // 1 of 4 since closing
    expect(breaker.getState()).toBe('closed');
  });

  it('P5: in-flight calls are not in the failure-rate denominator', async () => {
    const breaker = new CircuitBreaker({ tripPolicy: { type: 'count', windowSize: 10, minimumCalls: 2, failureRateThreshold: 0.5 } });
    const inFlight = Array.from({ length: 10 }, () => deferred());
    const calls = inFlight.map((d) => breaker.call(() => d.promise).catch(() => undefined));
    inFlight[0]!.reject(new Error('1'));
    await Promise.resolve();
    expect(breaker.getState()).toBe('closed'); // 1 completed call: below the minimum
    inFlight[1]!.reject(new Error('2'));
    await calls[1];
    expect(breaker.getState()).toBe('open'); // 2 of 2 completed failed; 8 still running do not dilute it
    for (const d of inFlight.slice(2)) d.resolve();
    await Promise.all(calls);
  });

  it('P11: refusals never count as failures, so a healthy dependency cannot trip the breaker', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, recoveryTimeout: 1_000, clock: clock.now });
    runAll(breaker, 'f');
    for (let i = 0; i < 20; i++) expect(run(breaker, 's')).toBe('refused');
    expect(breaker.getMetrics()).toMatchObject({ failures: 1, rejections: 20, totalCalls: 21 });
    expect(breaker.getMetrics().failureRate).toBe(1);
    expect(breaker.getMetrics().rejectionRate).toBeCloseTo(20 / 21);
  });

  it('slow calls: a slow-call rate over its threshold opens the breaker even though every call succeeded', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({
      tripPolicy: { type: 'count', windowSize: 5, minimumCalls: 4, slowCallRateThreshold: 0.5 },
      slowCallDurationMs: 100,
      clock: clock.now,
    });
    const takes = (ms: number) => () => clock.advance(ms);
    for (const ms of [150, 10, 150]) breaker.call(takes(ms));
    expect(breaker.getState()).toBe('closed');
    breaker.call(takes(10));
    expect(breaker.getState()).toBe('closed'); // 2 of 4 slow: not above 50 %
    breaker.call(takes(100)); // at the threshold counts as slow: 3 of 5
    expect(breaker.getState()).toBe('open');
    expect(breaker.getMetrics()).toMatchObject({ slowCalls: 3, successes: 5, failures: 0 });
  });
});
