// Behaviour scenarios D33–D36 (error classification) and E37–E42 (timeout and cancellation)
// plus the permit API and the sync/async contract of `call`.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CircuitBreaker, CircuitBreakerError, CircuitBreakerTimeoutError } from '../../../src/index.js';
import { manualClock } from '../../support/clock.js';
import { deferred } from '../../support/deferred.js';

class HttpError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}
const serverErrorsOnly = (error: unknown) => !(error instanceof HttpError) || error.status >= 500;

describe('D. error classification', () => {
  it('D33: an error isFailure excuses still reaches the caller, counts as ignored, and never trips', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, isFailure: serverErrorsOnly });
    const notFound = new HttpError(404);
    for (let i = 0; i < 5; i++) {
      expect(() =>
        breaker.call(() => {
          throw notFound;
        }),
      ).toThrow(notFound);
    }
    expect(breaker.getState()).toBe('closed');
    expect(breaker.getMetrics()).toMatchObject({ failures: 0, ignored: 5, successes: 0 });
  });

  it('D34: isFailure receives the error exactly as thrown', () => {
    const seen: unknown[] = [];
    const breaker = new CircuitBreaker({ isFailure: (error) => (seen.push(error), true) });
    const thrown = { not: 'an Error instance' };
    expect(() =>
      breaker.call(() => {
        throw thrown;
      }),
    ).toThrow();
    expect(seen).toEqual([thrown]);
    expect(seen[0]).toBe(thrown);
  });

  it('D35: only the errors isFailure matches count toward opening', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 2, isFailure: serverErrorsOnly });
    await expect(breaker.call(async () => Promise.reject(new HttpError(400)))).rejects.toThrow('HTTP 400');
    await expect(breaker.call(async () => Promise.reject(new HttpError(503)))).rejects.toThrow('HTTP 503');
    await expect(breaker.call(async () => Promise.reject(new HttpError(429)))).rejects.toThrow('HTTP 429');
    expect(breaker.getState()).toBe('closed');
    await expect(breaker.call(async () => Promise.reject(new HttpError(502)))).rejects.toThrow('HTTP 502');
    expect(breaker.getState()).toBe('open');
  });

  it('D36: a returned value isResultFailure matches is still returned, counts as a failure, and can trip', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 2, isResultFailure: (value) => (value as { status: number }).status >= 500 });
    expect(breaker.call(() => ({ status: 503 }))).toEqual({ status: 503 });
    await expect(breaker.call(async () => ({ status: 500 }))).resolves.toEqual({ status: 500 });
    expect(breaker.getState()).toBe('open');
    expect(breaker.getMetrics()).toMatchObject({ failures: 2, successes: 0 });
  });

  it('aborts (AbortError) and refusals from another breaker are ignored, never failures', async () => {
    const inner = new CircuitBreaker({ name: 'inner', failureThreshold: 1 });
    expect(() =>
      inner.call(() => {
        throw new Error('down');
      }),
    ).toThrow();
    const outer = new CircuitBreaker({ name: 'outer', failureThreshold: 1 });
    expect(() => outer.call(() => inner.call(() => 'x'))).toThrow(CircuitBreakerError);
    const aborted = new AbortController();
    aborted.abort();
    await expect(outer.call(() => fetch('http://127.0.0.1:9/', { signal: aborted.signal }))).rejects.toThrow();
    expect(outer.getState()).toBe('closed');
    expect(outer.getMetrics()).toMatchObject({ ignored: 2, failures: 0 });
  });
});

describe('E. timeout and cancellation', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('E37: a call past its timeout rejects with a timeout error, counts as a failure, and reports it', async () => {
    const breaker = new CircuitBreaker({ name: 'inference', failureThreshold: 1 });
    const failures: unknown[] = [];
    breaker.onFailure(({ error }) => failures.push(error));
    const call = breaker.execute(() => new Promise(() => {}), { timeout: 250 });
    const settled = expect(call).rejects.toThrow(new CircuitBreakerTimeoutError('inference', 250));
    await vi.advanceTimersByTimeAsync(249);
    expect(breaker.getMetrics().timeouts).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    await settled;
    const error = failures[0] as CircuitBreakerTimeoutError;
    expect(error).toMatchObject({ code: 'ERR_CIRCUIT_TIMEOUT', timeoutMs: 250, breakerName: 'inference', name: 'CircuitBreakerTimeoutError' });
    expect(breaker.getMetrics()).toMatchObject({ timeouts: 1, failures: 1 });
    expect(breaker.getState()).toBe('open');
  });

  it('E37: timeouts count as failures even when isFailure would excuse every error', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, isFailure: () => false });
    const call = breaker.execute(() => new Promise(() => {}), { timeout: 10 }).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(10);
    expect(await call).toBeInstanceOf(CircuitBreakerTimeoutError);
    expect(breaker.getState()).toBe('open');
  });

  it('E38: without a timeout no timer is scheduled on the call path', async () => {
    const breaker = new CircuitBreaker();
    const pending = deferred<string>();
    const call = breaker.execute(() => pending.promise);
    const viaCall = breaker.call(() => pending.promise);
    expect(vi.getTimerCount()).toBe(0);
    pending.resolve('done');
    await expect(call).resolves.toBe('done');
    await expect(viaCall).resolves.toBe('done');
  });

  it('E38: many calls with deadlines share one timer', async () => {
    const breaker = new CircuitBreaker();
    const pending = deferred<string>();
    const calls = Array.from({ length: 50 }, () => breaker.execute(() => pending.promise, { timeout: 1_000 }));
    expect(vi.getTimerCount()).toBe(1);
    pending.resolve('done');
    await Promise.all(calls);
    expect(breaker.getMetrics()).toMatchObject({ successes: 50, timeouts: 0 });
  });

  it('E39: on timeout the call’s signal aborts with the timeout error; a call that finishes in time keeps it clean', async () => {
    const breaker = new CircuitBreaker();
    const signals: AbortSignal[] = [];
    const quick = breaker.execute(async ({ signal }) => {
      signals.push(signal);
      return 'quick';
    }, { timeout: 100 });
    await expect(quick).resolves.toBe('quick');
    const slow = breaker.execute(({ signal }) => {
      signals.push(signal);
      return new Promise(() => {});
    }, { timeout: 100 });
    const rejected = expect(slow).rejects.toBeInstanceOf(CircuitBreakerTimeoutError);
    await vi.advanceTimersByTimeAsync(100);
    await rejected;
    expect(signals[0]!.aborted).toBe(false);
    expect(signals[1]!.aborted).toBe(true);
    expect(signals[1]!.reason).toBeInstanceOf(CircuitBreakerTimeoutError);
  });

  it('E39: a signal first read after the timeout is already aborted', async () => {
    const breaker = new CircuitBreaker();
    let read: (() => AbortSignal) | undefined;
    const call = breaker.execute((context) => {
      read = () => context.signal;
      return new Promise(() => {});
    }, { timeout: 5 });
    const rejected = expect(call).rejects.toBeInstanceOf(CircuitBreakerTimeoutError);
    await vi.advanceTimersByTimeAsync(5);
    await rejected;
    expect(read!().aborted).toBe(true);
  });

  it('E40: every call gets a signal of its own: after one timed out, the next starts un-aborted', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 10 });
    const signals: AbortSignal[] = [];
    const hang = ({ signal }: { signal: AbortSignal }) => {
      signals.push(signal);
      return new Promise<never>(() => {});
    };
    const first = breaker.execute(hang, { timeout: 10 }).catch(() => 'timed out');
    await vi.advanceTimersByTimeAsync(10);
    expect(await first).toBe('timed out');
    const second = breaker.execute(hang, { timeout: 10 }).catch(() => 'timed out');
    expect(signals[1]).not.toBe(signals[0]);
    expect(signals[1]!.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(10);
    await second;
  });

  it('E41: a call that timed out and settles later is counted once', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 10 });
    const late = deferred<string>();
    const call = breaker.execute(() => late.promise, { timeout: 10 }).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(10);
    late.resolve('too late');
    expect(await call).toBeInstanceOf(CircuitBreakerTimeoutError);
    await vi.advanceTimersByTimeAsync(0);
    expect(breaker.getMetrics()).toMatchObject({ failures: 1, successes: 0, timeouts: 1 });
  });

  it('E42: the caller’s signal is linked to the call’s: aborting it aborts the function and rejects at once', async () => {
    const breaker = new CircuitBreaker();
    const parent = new AbortController();
    let inner: AbortSignal | undefined;
    const call = breaker.execute(({ signal }) => {
      inner = signal;
      return new Promise(() => {}); // ignores its signal: the caller must not wait on it
    }, { timeout: 60_000, signal: parent.signal });
    parent.abort(new Error('client disconnected'));
    await expect(call).rejects.toThrow('client disconnected');
    expect(inner!.aborted).toBe(true);
    expect(breaker.getMetrics()).toMatchObject({ ignored: 1, failures: 0, timeouts: 0 });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(breaker.getMetrics().timeouts).toBe(0);
  });

  it('the shared deadline timer is gone once it fires and finds nothing left to expire', async () => {
    const breaker = new CircuitBreaker();
    const pending = deferred();
    const call = breaker.execute(() => pending.promise, { timeout: 1_000 });
    expect(vi.getTimerCount()).toBe(1);
    pending.resolve();
    await call;
    // The idle timer stays armed (unref'd) until it fires and finds nothing to expire.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('timeouts also work with an injected clock that no timer moves', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ clock: clock.now });
    const call = breaker.execute(() => new Promise(() => {}), { timeout: 50 });
    const rejected = expect(call).rejects.toBeInstanceOf(CircuitBreakerTimeoutError);
    await vi.advanceTimersByTimeAsync(50);
    await rejected;
  });

  it('an invalid per-call timeout is a RangeError naming it, and nothing runs', async () => {
    const breaker = new CircuitBreaker();
    let ran = false;
    await expect(breaker.execute(() => (ran = true), { timeout: -5 })).rejects.toThrow(
      new RangeError('execute option "timeout" must be a finite number of milliseconds >= 0 (got -5)'),
    );
    expect(ran).toBe(false);
    expect(breaker.getMetrics().totalCalls).toBe(0);
  });
});

describe('call: synchronous in, synchronous out', () => {
  it('a synchronous function’s value comes back synchronously; a promise comes back for an async one', async () => {
    const breaker = new CircuitBreaker();
    const value = breaker.call(() => 42);
    expect(value).toBe(42);
    const promise = breaker.call(async () => 42);
    expect(promise).toBeInstanceOf(Promise);
    expect(breaker.getMetrics().successes).toBe(1); // recorded when it settles, not before
    await expect(promise).resolves.toBe(42);
    expect(breaker.getMetrics().successes).toBe(2);
  });

  it('thenables that are not native promises are tracked too', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1 });
    const thenable = { then: (_: unknown, reject: (e: Error) => void) => reject(new Error('thenable failed')) };
    await expect(breaker.call(() => thenable)).rejects.toThrow('thenable failed');
    expect(breaker.getState()).toBe('open');
  });
});

describe('permits: tryAcquire / acquire', () => {
  it('report success, failure or ignore once; later reports are no-ops', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 2 });
    const first = breaker.tryAcquire()!;
    first.success();
    first.failure(new Error('ignored, already reported'));
    const second = breaker.tryAcquire()!;
    second.ignore();
    const third = breaker.acquire();
    third.failure(new Error('stream ended without [DONE]'));
    expect(breaker.getMetrics()).toMatchObject({ totalCalls: 3, successes: 1, ignored: 1, failures: 1 });
    breaker.acquire().failure(new Error('again'));
    expect(breaker.getState()).toBe('open');
  });

  it('a refused tryAcquire returns null and counts; acquire throws the refusal with retryAfterMs', () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, recoveryTimeout: 30_000, clock: clock.now });
    breaker.acquire().failure(new Error('down'));
    clock.advance(10_000);
    expect(breaker.tryAcquire()).toBeNull();
    expect(() => breaker.acquire()).toThrow(expect.objectContaining({ retryAfterMs: 20_000, reason: 'open' }));
    expect(breaker.getMetrics().rejections).toBe(2);
  });

  it('permit failures are classified like thrown errors', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, isFailure: serverErrorsOnly });
    breaker.acquire().failure(new HttpError(400));
    const abort = new Error('client went away');
    abort.name = 'AbortError';
    breaker.acquire().failure(abort);
    expect(breaker.getState()).toBe('closed');
    expect(breaker.getMetrics()).toMatchObject({ ignored: 2, failures: 0 });
  });
});
