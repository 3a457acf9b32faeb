// Behaviour scenarios H45–H46 (manual control), I49–I50 (state persistence) and J51–J52
// (events and metrics), against this breaker's API.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CircuitBreaker, CircuitBreakerError, type CircuitBreakerOptions, type StateChange } from '../../../src/index.js';
import { manualClock } from '../../support/clock.js';

const boom = () => {
  throw new Error('boom');
};

function refusalReason(breaker: CircuitBreaker): string | undefined {
  try {
    breaker.call(() => 'ran');
    return undefined;
  } catch (error) {
    return (error as CircuitBreakerError).reason;
  }
}

describe('H. manual control', () => {
  it('H45: isolate() holds the breaker open until every hold is released, with one event each way', () => {
    const breaker = new CircuitBreaker();
    const changes: StateChange[] = [];
    breaker.onStateChange((c) => changes.push(c));
    const first = breaker.isolate();
    const second = breaker.isolate();
    expect(changes.map((c) => c.reason)).toEqual(['isolated']);
    expect(breaker.getState()).toBe('open');
    expect(breaker.isIsolated).toBe(true);
    let refused: CircuitBreakerError | undefined;
    try {
      breaker.call(() => 'ran');
    } catch (error) {
      refused = error as CircuitBreakerError;
    }
    expect(refused).toMatchObject({ reason: 'isolated', retryAfterMs: Infinity });
    first.dispose();
    first.dispose(); // a second dispose of the same hold releases nothing more
    expect(breaker.getState()).toBe('open');
    second.dispose();
    expect(changes.map((c) => c.reason)).toEqual(['isolated', 'isolation_released']);
    expect(breaker.call(() => 'passes')).toBe('passes');
  });

  it('H45: an isolated breaker does not move to half-open when its recovery time passes', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ recoveryTimeout: 10, clock: clock.now });
    const hold = breaker.isolate();
    clock.advance(60_000);
    expect(breaker.getState()).toBe('open');
    hold.dispose();
    expect(breaker.getState()).toBe('closed');
  });

  it('H46: disable() passes everything through and still records; enable() restores tripping', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1 });
    expect(() => breaker.call(boom)).toThrow('boom');
    expect(breaker.getState()).toBe('open');
    breaker.disable();
    expect(breaker.getState()).toBe('closed');
    expect(breaker.isDisabled).toBe(true);
    for (let i = 0; i < 5; i++) expect(() => breaker.call(boom)).toThrow('boom');
    expect(breaker.getState()).toBe('closed');
    expect(breaker.getMetrics()).toMatchObject({ failures: 6, rejections: 0 });
    breaker.enable();
    expect(() => breaker.call(boom)).toThrow('boom');
    expect(breaker.getState()).toBe('open');
  });

  it('H46: isolation wins over disable()', () => {
    const breaker = new CircuitBreaker();
    breaker.disable();
    const hold = breaker.isolate();
    expect(refusalReason(breaker)).toBe('isolated');
    hold.dispose();
    expect(refusalReason(breaker)).toBeUndefined();
  });

  it('reset() closes an open or isolated breaker, forgets its window, and keeps the counters', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 2, recoveryBackoff: { maxMs: 100_000 }, recoveryTimeout: 1_000, clock: clock.now });
    expect(() => breaker.call(boom)).toThrow();
    expect(() => breaker.call(boom)).toThrow();
    const hold = breaker.isolate();
    breaker.reset();
    expect(breaker.getState()).toBe('closed');
    hold.dispose(); // taken before the reset: releases nothing, closes nothing twice
    expect(breaker.getMetrics().stateChanges.map((c) => c.reason)).toEqual(['failure_threshold', 'reset']);
    expect(() => breaker.call(boom)).toThrow();
    expect(breaker.getState()).toBe('closed'); // the window restarted at zero
    expect(() => breaker.call(boom)).toThrow();
    let retryAfterMs: number | undefined;
    try {
      breaker.call(() => 'x');
    } catch (error) {
      retryAfterMs = (error as CircuitBreakerError).retryAfterMs;
    }
    expect(retryAfterMs).toBe(1_000); // the backoff attempt restarted too
    expect(breaker.getMetrics().failures).toBe(4);
  });
});

describe('I. state persistence', () => {
  const options = (clock: { now: () => number }): CircuitBreakerOptions => ({
    failureThreshold: 2,
    recoveryTimeout: 10_000,
    recoveryBackoff: { maxMs: 60_000 },
    clock: clock.now,
  });

  it('I49: a closed breaker restores closed with its window: one more failure trips it', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker(options(clock));
    expect(() => breaker.call(boom)).toThrow();
    const restored = new CircuitBreaker({ ...options(clock), initialState: JSON.parse(JSON.stringify(breaker)) });
    expect(restored.getState()).toBe('closed');
    expect(() => restored.call(boom)).toThrow('boom');
    expect(restored.getState()).toBe('open');
  });

  it('I49: an open breaker restores open with its remaining delay and backoff attempt', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker(options(clock));
    for (let i = 0; i < 2; i++) expect(() => breaker.call(boom)).toThrow();
    clock.advance(10_000);
    expect(() => breaker.call(boom)).toThrow('boom'); // failed probe: second opening, 20 s
    clock.advance(5_000);
    const snapshot = breaker.toJSON();
    expect(snapshot).toMatchObject({ version: 1, state: 'open', attempt: 2 });
    const restored = new CircuitBreaker({ ...options(clock), initialState: snapshot });
    expect(refusalReason(restored)).toBe('open');
    clock.advance(15_000);
    expect(restored.getState()).toBe('half_open');
    expect(() => restored.call(boom)).toThrow('boom'); // third opening: 40 s
    clock.advance(39_999);
    expect(restored.getState()).toBe('open');
  });

  it('I49: a half-open snapshot restores as open with an immediate probe', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker(options(clock));
    for (let i = 0; i < 2; i++) expect(() => breaker.call(boom)).toThrow();
    clock.advance(10_000);
    expect(breaker.getState()).toBe('half_open');
    const restored = new CircuitBreaker({ ...options(clock), initialState: breaker.toJSON() });
    expect(restored.getState()).toBe('half_open');
    expect(restored.call(() => 'probe')).toBe('probe');
    expect(restored.getState()).toBe('closed');
  });

  it('I50: an open snapshot older than its open duration starts half-open; one success closes it', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker(options(clock));
    for (let i = 0; i < 2; i++) expect(() => breaker.call(boom)).toThrow();
    const snapshot = breaker.toJSON();
    clock.advance(3_600_000); // the process was down for an hour
    const restored = new CircuitBreaker({ ...options(clock), initialState: snapshot });
    expect(restored.getState()).toBe('half_open');
    restored.call(() => 'ok');
    expect(restored.getState()).toBe('closed');
  });

  it('a snapshot of another kind of window is refused with a message naming the field', () => {
    const consecutive = new CircuitBreaker().toJSON();
    expect(() => new CircuitBreaker({ tripPolicy: { type: 'count', windowSize: 5 }, initialState: consecutive })).toThrow(
      new RangeError('CircuitBreaker option "initialState.window" holds a "consecutive" window but the breaker\'s tripPolicy is "count"'),
    );
    expect(() => new CircuitBreaker({ initialState: { ...consecutive, state: 'ajar' as never } })).toThrow('"initialState.state"');
    expect(() => new CircuitBreaker({ initialState: { ...consecutive, openUntil: Number.NaN } })).toThrow('"initialState.openUntil"');
  });
});

describe('J. events and metrics', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('J51: a scripted run gives exact counts after each step', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, recoveryTimeout: 1_000, clock: clock.now });
    const counts = { success: 0, failure: 0, reject: 0, open: 0, close: 0, halfOpen: 0 };
    breaker.onSuccess(() => counts.success++);
    breaker.onFailure(() => counts.failure++);
    breaker.onReject(() => counts.reject++);
    breaker.onStateChange(({ toState }) => {
      if (toState === 'open') counts.open++;
      else if (toState === 'closed') counts.close++;
      else counts.halfOpen++;
    });
    breaker.call(() => 'ok');
    expect(() => breaker.call(boom)).toThrow('boom');
    expect(refusalReason(breaker)).toBe('open');
    clock.advance(1_000);
    breaker.call(() => 'ok');
    expect(counts).toEqual({ success: 2, failure: 1, reject: 1, open: 1, close: 1, halfOpen: 1 });
    expect(breaker.getMetrics()).toMatchObject({ totalCalls: 4, successes: 2, failures: 1, rejections: 1, timeouts: 0 });
  });

  it('J52: success and failure events carry the call’s duration; failures carry the error', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ clock: clock.now });
    const events: unknown[] = [];
    breaker.onSuccess((e) => events.push(e));
    breaker.onFailure((e) => events.push(e));
    breaker.call(() => clock.advance(120));
    const error = new Error('slow failure');
    await expect(
      breaker.call(async () => {
        clock.advance(30);
        throw error;
      }),
    ).rejects.toBe(error);
    expect(events).toEqual([{ durationMs: 120 }, { error, durationMs: 30 }]);
  });

  it('listeners unsubscribe, and then the breaker stops timing calls for them', () => {
    let reads = 0;
    const breaker = new CircuitBreaker({ clock: () => ++reads });
    const stop = breaker.onSuccess(() => {});
    breaker.call(() => 'timed');
    expect(reads).toBe(2);
    stop();
    stop();
    breaker.call(() => 'untimed');
    expect(reads).toBe(2); // no listener and no slow-call policy: no clock reads on the closed path
  });

  it('a listener that throws does not break the transition; its error is rethrown on its own', () => {
    const rethrown: Array<() => void> = [];
    vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((task) => rethrown.push(task));
    const breaker = new CircuitBreaker({ failureThreshold: 1 });
    const seen: string[] = [];
    breaker.onStateChange(() => {
      throw new Error('bad listener');
    });
    breaker.onStateChange((c) => seen.push(c.toState));
    expect(() => breaker.call(boom)).toThrow('boom');
    expect(breaker.getState()).toBe('open');
    expect(seen).toEqual(['open']);
    expect(rethrown).toHaveLength(1);
    expect(() => rethrown[0]!()).toThrow('bad listener');
  });

  it('the state change history keeps only the newest maxStateChanges entries', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, recoveryTimeout: 10, maxStateChanges: 4, clock: clock.now });
    for (let i = 0; i < 5; i++) {
      expect(() => breaker.call(boom)).toThrow('boom'); // closed → open (or half-open → open)
      clock.advance(10);
      breaker.getState(); // open → half-open
    }
    const history = breaker.getMetrics().stateChanges;
    expect(history).toHaveLength(4);
    expect(history.at(-1)).toMatchObject({ toState: 'half_open', timestamp: clock.now() });
    expect(history.map((c) => c.toState)).toEqual(['open', 'half_open', 'open', 'half_open']);
  });

  it('getMetrics() returns a copy: changing it changes nothing inside', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1 });
    expect(() => breaker.call(boom)).toThrow();
    const metrics = breaker.getMetrics();
    metrics.stateChanges.pop();
    metrics.failures = 99;
    expect(breaker.getMetrics()).toMatchObject({ failures: 1, stateChanges: [expect.objectContaining({ toState: 'open' })] });
  });
});
