// Behaviour scenarios B15–B20 (open state) and C21–C32 (half-open),
// plus the half-open pitfalls P3, P6, P7 and P9, against this breaker's API.
import { describe, expect, it } from 'vitest';
import { CircuitBreaker, CircuitBreakerError, type CircuitBreakerOptions, type StateChange } from '../../../src/index.js';
import { manualClock, type ManualClock } from '../../support/clock.js';
import { deferred } from '../../support/deferred.js';

const boom = () => {
  throw new Error('boom');
};

function trip(breaker: CircuitBreaker): void {
  expect(() => breaker.call(boom)).toThrow('boom');
  expect(breaker.getState()).toBe('open');
}

function refusal(breaker: CircuitBreaker, fn: () => unknown = () => 'ran'): CircuitBreakerError {
  try {
    breaker.call(fn);
  } catch (error) {
    if (error instanceof CircuitBreakerError) return error;
    throw error;
  }
  throw new Error('expected the breaker to refuse the call');
}

function openBreaker(options: CircuitBreakerOptions = {}): { breaker: CircuitBreaker; clock: ManualClock; changes: StateChange[] } {
  const clock = manualClock();
  const breaker = new CircuitBreaker({ failureThreshold: 1, recoveryTimeout: 1_000, clock: clock.now, ...options });
  const changes: StateChange[] = [];
  breaker.onStateChange((change) => changes.push(change));
  trip(breaker);
  return { breaker, clock, changes };
}

describe('B. open state', () => {
  it('B15: an open breaker refuses at once, emits the refusal, counts it, and does not run the function', () => {
    const { breaker, clock } = openBreaker();
    const refused: CircuitBreakerError[] = [];
    breaker.onReject((error) => refused.push(error));
    let ran = false;
    clock.advance(400);
    const error = refusal(breaker, () => (ran = true));
    expect(ran).toBe(false);
    expect(error).toMatchObject({ code: 'ERR_CIRCUIT_OPEN', reason: 'open', state: 'open', breakerName: 'circuit_breaker', retryAfterMs: 600 });
    expect(error.message).toBe('circuit_breaker: circuit is open');
    expect(refused).toEqual([error]);
    expect(breaker.getMetrics().rejections).toBe(1);
  });

  it('B15: a refusal carries no captured stack trace, yet prints its name and message', () => {
    const { breaker } = openBreaker({ name: 'inference' });
    const error = refusal(breaker);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('CircuitBreakerError');
    expect(error.stack).toBe('CircuitBreakerError: inference: circuit is open');
    expect(String(error)).toBe('CircuitBreakerError: inference: circuit is open');
  });

  it('B15: an async function refused while open gets a rejected promise, so .catch() chains work', async () => {
    const { breaker } = openBreaker();
    const result = breaker.call(async () => 'ran');
    expect(result).toBeInstanceOf(Promise);
    await expect(result).rejects.toBeInstanceOf(CircuitBreakerError);
    await expect(breaker.execute(() => 'ran')).rejects.toBeInstanceOf(CircuitBreakerError);
  });

  it('B17: after the open duration the next call is let through as a probe and returns its value', () => {
    const { breaker, clock } = openBreaker();
    clock.advance(999);
    expect(refusal(breaker).retryAfterMs).toBe(1);
    clock.advance(1);
    expect(breaker.call(() => 'probe ok')).toBe('probe ok');
    expect(breaker.getState()).toBe('closed');
  });

  it('B18: the open duration is measured on the clock, at call and at restore time, with no timer', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, recoveryTimeout: 5_000, clock: clock.now });
    trip(breaker);
    clock.advance(3_000);
    const restored = new CircuitBreaker({ failureThreshold: 1, recoveryTimeout: 5_000, clock: clock.now, initialState: breaker.toJSON() });
    expect(restored.getState()).toBe('open');
    expect(refusal(restored).retryAfterMs).toBe(2_000);
    clock.advance(2_000);
    expect(restored.getState()).toBe('half_open');
  });

  it('B19: backoff 1 s then 2 s: a failed first probe reopens for 2 s; half-open is reached twice', () => {
    const { breaker, clock, changes } = openBreaker({ recoveryBackoff: { multiplier: 2, maxMs: 60_000 } });
    clock.advance(1_000);
    expect(() => breaker.call(boom)).toThrow('boom');
    expect(breaker.getState()).toBe('open');
    clock.advance(1_000);
    expect(refusal(breaker).retryAfterMs).toBe(1_000);
    clock.advance(1_000);
    expect(breaker.call(() => 'ok')).toBe('ok');
    expect(changes.filter((c) => c.toState === 'half_open')).toHaveLength(2);
  });

  it('B20: the backoff grows with each opening in a row, stops at its cap, and starts again after a close', () => {
    const { breaker, clock } = openBreaker({ recoveryBackoff: { multiplier: 3, maxMs: 5_000 } });
    const durations: number[] = [];
    for (let i = 0; i < 3; i++) {
      durations.push(refusal(breaker).retryAfterMs);
      clock.advance(durations.at(-1)!);
      expect(() => breaker.call(boom)).toThrow('boom');
    }
    durations.push(refusal(breaker).retryAfterMs);
    expect(durations).toEqual([1_000, 3_000, 5_000, 5_000]);
    clock.advance(5_000);
    breaker.call(() => 'ok');
    trip(breaker);
    expect(refusal(breaker).retryAfterMs).toBe(1_000);
  });

  it('B20: jitter takes a random share of each duration, within [1 − jitter, 1] of it', () => {
    for (const [random, expected] of [
      [0, 8_000],
      [0.5, 6_000],
      [0.999, 4_004],
    ] as const) {
      const { breaker } = openBreaker({ recoveryTimeout: 8_000, recoveryBackoff: { maxMs: 60_000, jitter: 0.5 }, random: () => random });
      expect(refusal(breaker).retryAfterMs).toBeCloseTo(expected, 6);
    }
  });
});

describe('C. half-open', () => {
  it('C21/P6: exactly one probe runs; four concurrent callers are refused at once, not parked', async () => {
    const { breaker, clock } = openBreaker();
    clock.advance(1_000);
    const probe = deferred<string>();
    let invocations = 0;
    const results = Array.from({ length: 5 }, () =>
      Promise.resolve()
        .then(() =>
          breaker.call(() => {
            invocations++;
            return probe.promise;
          }),
        )
        .catch((error: CircuitBreakerError) => error.reason),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(invocations).toBe(1);
    probe.resolve('probe ok');
    expect(await Promise.all(results)).toEqual(['probe ok', 'half_open_busy', 'half_open_busy', 'half_open_busy', 'half_open_busy']);
  });

  it('C22: a successful probe closes the breaker, with one state change, and later calls pass', () => {
    const { breaker, clock, changes } = openBreaker();
    clock.advance(1_000);
    breaker.call(() => 'ok');
    expect(changes.map((c) => c.toState)).toEqual(['open', 'half_open', 'closed']);
    expect(changes.at(-1)!.reason).toBe('probe_succeeded');
    for (let i = 0; i < 3; i++) expect(breaker.call(() => i)).toBe(i);
  });

  it('C23: a failed probe reopens the breaker and restarts the open duration', () => {
    const { breaker, clock, changes } = openBreaker();
    clock.advance(1_500);
    expect(() => breaker.call(boom)).toThrow('boom');
    expect(changes.at(-1)).toMatchObject({ fromState: 'half_open', toState: 'open', reason: 'probe_failed' });
    expect(refusal(breaker).retryAfterMs).toBe(1_000);
  });

  it('C24: the full cycle closed → open → half-open (fail) → open → half-open (success) → closed', () => {
    const { breaker, clock } = openBreaker();
    const states = [breaker.getState()];
    clock.advance(1_000);
    states.push(breaker.getState());
    expect(() => breaker.call(boom)).toThrow('boom');
    states.push(breaker.getState());
    clock.advance(1_000);
    states.push(breaker.getState());
    breaker.call(() => 'ok');
    states.push(breaker.getState());
    expect(states).toEqual(['open', 'half_open', 'open', 'half_open', 'closed']);
    expect(breaker.getMetrics().stateChanges.map((c) => `${c.fromState}->${c.toState}`)).toEqual([
      'closed->open',
      'open->half_open',
      'half_open->open',
      'open->half_open',
      'half_open->closed',
    ]);
  });

  it('C25: callers refused behind a failing probe are never run, and stay refused once it fails', async () => {
    const { breaker, clock } = openBreaker();
    clock.advance(1_000);
    const probe = deferred();
    const probeCall = breaker.call(() => probe.promise);
    let ran = 0;
    expect(refusal(breaker, () => ran++).reason).toBe('half_open_busy');
    probe.reject(new Error('still down'));
    await expect(probeCall).rejects.toThrow('still down');
    expect(refusal(breaker, () => ran++).reason).toBe('open');
    expect(ran).toBe(0);
  });

  it('C26: halfOpenMaxProbes = 2 lets two probes run together and refuses the third', async () => {
    const { breaker, clock } = openBreaker({ halfOpenMaxProbes: 2, halfOpenSuccessThreshold: 2 });
    clock.advance(1_000);
    const probes = [deferred(), deferred()];
    const calls = probes.map((p) => breaker.call(() => p.promise));
    expect(refusal(breaker).reason).toBe('half_open_busy');
    probes[0]!.resolve();
    await calls[0];
    expect(breaker.getState()).toBe('half_open');
    probes[1]!.resolve();
    await calls[1];
    expect(breaker.getState()).toBe('closed');
  });

  it('C27: a caller whose signal is already aborted is rejected with its reason and nothing runs', async () => {
    const { breaker, clock } = openBreaker();
    clock.advance(1_000);
    const controller = new AbortController();
    controller.abort(new Error('caller gave up'));
    let ran = false;
    await expect(breaker.execute(() => (ran = true), { signal: controller.signal })).rejects.toThrow('caller gave up');
    expect(ran).toBe(false);
    expect(breaker.getState()).toBe('half_open'); // the probe slot is still free
    expect(breaker.call(() => 'probe')).toBe('probe');
  });

  it('C27: the function gets the caller’s own signal, and aborting it is visible inside the function', async () => {
    const breaker = new CircuitBreaker();
    const controller = new AbortController();
    const seen: AbortSignal[] = [];
    const started = deferred();
    const call = breaker.execute(
      ({ signal }) => {
        seen.push(signal);
        started.resolve();
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      },
      { signal: controller.signal },
    );
    await started.promise;
    expect(seen[0]).toBe(controller.signal);
    controller.abort(new Error('user pressed stop'));
    await expect(call).rejects.toThrow('user pressed stop');
    expect(breaker.getMetrics()).toMatchObject({ ignored: 1, failures: 0 });
  });

  it('C28: with a success threshold of 3, two successes keep it half-open and any failure reopens it', () => {
    const { breaker, clock } = openBreaker({ halfOpenSuccessThreshold: 3 });
    clock.advance(1_000);
    breaker.call(() => 'ok');
    breaker.call(() => 'ok');
    expect(breaker.getState()).toBe('half_open');
    expect(() => breaker.call(boom)).toThrow('boom');
    expect(breaker.getState()).toBe('open');
    clock.advance(1_000);
    for (let i = 0; i < 3; i++) breaker.call(() => 'ok');
    expect(breaker.getState()).toBe('closed');
  });

  it('C30: the minimum number of calls does not apply in half-open: one probe failure reopens', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({
      tripPolicy: { type: 'count', windowSize: 10, minimumCalls: 5, failureRateThreshold: 0.5 },
      recoveryTimeout: 1_000,
      clock: clock.now,
    });
    for (let i = 0; i < 5; i++) expect(() => breaker.call(boom)).toThrow('boom');
    expect(breaker.getState()).toBe('open');
    clock.advance(1_000);
    expect(() => breaker.call(boom)).toThrow('boom');
    expect(breaker.getState()).toBe('open');
  });

  it('C31/P7: an ignored error from a probe frees its slot: the breaker neither closes nor wedges', () => {
    class NotFound extends Error {}
    const { breaker, clock } = openBreaker({ isFailure: (error) => !(error instanceof NotFound) });
    clock.advance(1_000);
    expect(() =>
      breaker.call(() => {
        throw new NotFound('404');
      }),
    ).toThrow('404');
    expect(breaker.getState()).toBe('half_open');
    expect(breaker.call(() => 'next probe')).toBe('next probe');
    expect(breaker.getState()).toBe('closed');
  });

  it('C32: invalid half-open and window options are RangeErrors that name the option', () => {
    const cases: Array<[CircuitBreakerOptions, string]> = [
      [{ halfOpenMaxProbes: 0 }, '"halfOpenMaxProbes" must be an integer >= 1 (got 0)'],
      [{ halfOpenSuccessThreshold: 1.5 }, '"halfOpenSuccessThreshold" must be an integer >= 1 (got 1.5)'],
      [{ halfOpenMaxWaitMs: -1 }, '"halfOpenMaxWaitMs"'],
      [{ tripPolicy: { type: 'count', windowSize: 10, failureRateThreshold: 1 } }, '"tripPolicy.failureRateThreshold"'],
      [{ tripPolicy: { type: 'count', windowSize: 10, failureRateThreshold: Number.NaN } }, '"tripPolicy.failureRateThreshold"'],
      [{ tripPolicy: { type: 'count', windowSize: 10, failureRateThreshold: -0.1 } }, '"tripPolicy.failureRateThreshold"'],
      [{ tripPolicy: { type: 'count' } as never }, '"tripPolicy.windowSize" must be an integer >= 1 (got NaN)'],
      [{ tripPolicy: { type: 'time', windowMs: 0 } }, '"tripPolicy.windowMs"'],
      [{ tripPolicy: { type: 'sliding' } as never }, '"tripPolicy.type" must be one of'],
      [{ tripPolicy: { type: 'count', windowSize: 5, slowCallRateThreshold: 0.5 } }, 'set together with "slowCallDurationMs"'],
      [{ failureThreshold: 0 }, '"failureThreshold" must be an integer >= 1 (got 0)'],
      [{ recoveryTimeout: Number.POSITIVE_INFINITY }, '"recoveryTimeout" must be a finite number'],
      [{ recoveryTimeout: '60' as never }, '"recoveryTimeout" must be a finite number of milliseconds >= 0 (got "60")'],
      [{ recoveryBackoff: { maxMs: 10, multiplier: 0.5 } }, '"recoveryBackoff.multiplier"'],
      [{ recoveryBackoff: { maxMs: 10, jitter: 2 } }, '"recoveryBackoff.jitter"'],
      [{ name: '' }, '"name" must be a non-empty string'],
      [{ failure_threshold: 3 } as never, '"failure_threshold" is not an option (did you mean "failureThreshold"?)'],
      [{ initialState: { version: 2 } } as never, '"initialState.version"'],
    ];
    for (const [options, message] of cases) {
      expect(() => new CircuitBreaker(options), JSON.stringify(options)).toThrow(RangeError);
      expect(() => new CircuitBreaker(options)).toThrow(message);
    }
    expect(() => new CircuitBreaker({ isFailure: 'yes' as never })).toThrow(new TypeError('CircuitBreaker option "isFailure" must be a function (got string)'));
  });

  it('P3: a probe that hangs past halfOpenMaxWaitMs no longer holds the breaker; its late result is ignored', async () => {
    const { breaker, clock, changes } = openBreaker({ halfOpenMaxWaitMs: 5_000 });
    clock.advance(1_000);
    const hung = deferred<string>();
    const hungCall = breaker.call(() => hung.promise);
    clock.advance(4_999);
    expect(refusal(breaker)).toMatchObject({ reason: 'half_open_busy', retryAfterMs: 1 });
    clock.advance(1);
    expect(breaker.getState()).toBe('open');
    expect(changes.at(-1)!.reason).toBe('probe_max_wait_exceeded');
    clock.advance(2_000); // second opening in a row: the same 1 s without backoff
    expect(breaker.call(() => 'fresh probe')).toBe('fresh probe');
    hung.resolve('late');
    await hungCall;
    expect(breaker.getState()).toBe('closed');
    expect(breaker.getMetrics().stateChanges.filter((c) => c.toState === 'closed')).toHaveLength(1);
  });

  it('P3: the hung-probe wait counts from the first probe in flight, not from probes that join it', async () => {
    const { breaker, clock } = openBreaker({ halfOpenMaxWaitMs: 5_000, halfOpenMaxProbes: 2, halfOpenSuccessThreshold: 2 });
    clock.advance(1_000);
    void breaker.call(() => new Promise<never>(() => {})); // hangs for good
    clock.advance(3_000);
    const joined = deferred();
    const joining = breaker.call(() => joined.promise);
    clock.advance(2_000);
    expect(breaker.getState()).toBe('open');
    joined.resolve();
    await joining;
    expect(breaker.getState()).toBe('open');
  });

  it('P9: the move to half-open is visible on getState() without a call, and its event fires then', () => {
    const { breaker, clock, changes } = openBreaker();
    clock.advance(1_000);
    expect(breaker.getState()).toBe('half_open');
    expect(changes.at(-1)).toMatchObject({ toState: 'half_open', reason: 'recovery_timeout_elapsed', timestamp: clock.now() });
  });

  it('stale outcomes: a call started before the last transition moves nothing in half-open', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 2, recoveryTimeout: 1_000, clock: clock.now });
    const startedClosed = deferred();
    const staleCall = breaker.call(() => startedClosed.promise).catch(() => 'stale failure');
    expect(() => breaker.call(boom)).toThrow();
    expect(() => breaker.call(boom)).toThrow();
    clock.advance(1_000);
    expect(breaker.getState()).toBe('half_open');
    startedClosed.reject(new Error('late'));
    await staleCall;
    expect(breaker.getState()).toBe('half_open');
    expect(breaker.call(() => 'probe')).toBe('probe');
    expect(breaker.getState()).toBe('closed');
  });
});
