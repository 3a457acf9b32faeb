import { openDurationMs } from './backoff.js';
import { CallPermit, FAILURE, GuardedCall, IGNORED, SUCCESS, type CallContext, type Outcome, type OutcomeSink, type Permit } from './calls.js';
import { Deadlines } from './deadlines.js';
import { CircuitBreakerError, type RejectionReason } from './errors.js';
import { BoundedHistory } from './history.js';
import { Listeners, type Unsubscribe } from './listeners.js';
import { resolveOptions, type CircuitBreakerOptions, type CircuitBreakerSnapshot, type ResolvedOptions } from './options.js';
import type { TripPolicy } from './policies/policy.js';
import { CircuitBreakerState, type StateChange, type TransitionReason } from './state.js';

const { CLOSED, OPEN, HALF_OPEN } = CircuitBreakerState;

export interface CircuitBreakerMetrics {
  /** Every call offered to the breaker: admitted and refused. */
  totalCalls: number;
  successes: number;
  failures: number;
  /** Calls refused without running. */
  rejections: number;
  /** Calls that finished as neither success nor failure (aborts, `isFailure` said no). */
  ignored: number;
  /** Failures that were per-call timeouts. */
  timeouts: number;
  /** Calls that took at least `slowCallDurationMs`. */
  slowCalls: number;
  /** The newest state changes, oldest first (bounded by `maxStateChanges`). */
  stateChanges: StateChange[];
  /** failures / (successes + failures); 0 before any call finished. */
  failureRate: number;
  /** rejections / totalCalls; 0 before any call. */
  rejectionRate: number;
}

export interface CallOptions {
  /** Deadline in milliseconds; past it the call fails with `CircuitBreakerTimeoutError` and its signal aborts. */
  timeout?: number;
  /** The caller's own cancellation: aborting it rejects the call with the signal's reason, counted as ignored. */
  signal?: AbortSignal;
}

export interface SuccessEvent {
  durationMs: number;
}

export interface FailureEvent {
  error: unknown;
  durationMs: number;
}

/** A hold on `isolate()`; the breaker stays open until every hold is released. */
export interface Isolation {
  dispose(): void;
}

/** Handed to functions run without a deadline or caller signal: nothing will ever abort it. */
const unabortable: CallContext = Object.freeze({ signal: new AbortController().signal });
const AsyncFunction = (async () => {}).constructor;

export class CircuitBreaker {
  readonly name: string;
  readonly #options: ResolvedOptions;
  readonly #policy: TripPolicy;
  readonly #clock: () => number;
  readonly #history: BoundedHistory<StateChange>;
  readonly #stateListeners = new Listeners<StateChange>();
  readonly #successListeners = new Listeners<SuccessEvent>();
  readonly #failureListeners = new Listeners<FailureEvent>();
  readonly #rejectListeners = new Listeners<CircuitBreakerError>();

  #state: CircuitBreakerState = CLOSED;
  /** Bumped on every transition; an outcome whose call started in another generation moves nothing. */
  #generation = 0;
  /** Whether calls must be timed: slow-call detection is on or someone listens for durations. */
  #timed: boolean;
  #openedAt = 0;
  #openUntil = 0;
  /** Openings in a row without a close; drives the backoff. */
  #attempt = 0;
  #probesInFlight = 0;
  #probeSuccesses = 0;
  /** Last time a half-open probe started from idle or finished: the hung-probe guard counts from here. */
  #probeProgressAt = 0;
  #isolations = 0;
  /** Bumped by `reset()` so that holds taken before it release nothing. */
  #isolationEpoch = 0;
  #disabled = false;

  #totalCalls = 0;
  #successes = 0;
  #failures = 0;
  #rejections = 0;
  #ignored = 0;
  #timeouts = 0;
  #slowCalls = 0;

  /** How permits and guarded calls report back without reaching into private state. */
  readonly #sink: OutcomeSink;
  #deadlines: Deadlines | undefined;

  constructor(options?: CircuitBreakerOptions) {
    const resolved = resolveOptions(options);
    this.#options = resolved;
    this.name = resolved.name;
    this.#sink = {
      name: resolved.name,
      settle: (generation, startedAt, outcome, error) => this.#settle(generation, startedAt, outcome, error),
      settleValue: (generation, startedAt, value) => this.#settleValue(generation, startedAt, value),
      settleError: (generation, startedAt, error) => this.#settleError(generation, startedAt, error),
      settleTimeout: (generation, startedAt, error) => {
        this.#timeouts++;
        this.#settle(generation, startedAt, FAILURE, error);
      },
    };
    this.#policy = resolved.policy;
    this.#clock = resolved.clock;
    this.#history = new BoundedHistory(resolved.maxStateChanges);
    this.#timed = resolved.slowCallDurationMs !== Infinity;
    if (resolved.initialState) this.#restore(resolved.initialState);
  }

  /**
   * Runs `fn(...args)` if the breaker admits it. A function that returns a value gives that value
   * back synchronously; one that returns a promise gives a promise, and its outcome is recorded
   * when it settles. Errors of `fn` pass through unchanged.
   *
   * When refused, throws `CircuitBreakerError` synchronously, or returns a rejected promise when
   * `fn` is an `async function` (so `.catch()` chains work). `await` catches both.
   */
  call<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): R {
    const admitted = this.#admit();
    if (typeof admitted !== 'number') {
      if (fn instanceof AsyncFunction) return Promise.reject(admitted) as R;
      throw admitted;
    }
    const startedAt = this.#timed ? this.#clock() : 0;
    let result: R;
    try {
      result = fn(...args);
    } catch (error) {
      this.#settleError(admitted, startedAt, error);
      throw error;
    }
    if (isThenable(result)) return this.#track(result, admitted, startedAt) as R;
    this.#settleValue(admitted, startedAt, result);
    return result;
  }

  /**
   * Runs `fn({ signal })` with a per-call deadline and cancellation; always returns a promise. No
   * timer is created unless a timeout applies (this call's, or the breaker's `timeout` option).
   */
  execute<R>(fn: (context: CallContext) => R | PromiseLike<R>, options?: CallOptions): Promise<Awaited<R>> {
    const callerSignal = options?.signal;
    const timeout = options?.timeout ?? this.#options.timeout;
    if (timeout !== undefined && !(timeout >= 0 && Number.isFinite(timeout))) {
      return Promise.reject(new RangeError(`execute option "timeout" must be a finite number of milliseconds >= 0 (got ${String(timeout)})`));
    }
    if (callerSignal?.aborted) return Promise.reject(callerSignal.reason);
    const admitted = this.#admit();
    if (typeof admitted !== 'number') return Promise.reject(admitted);
    const startedAt = this.#timed ? this.#clock() : 0;
    if (timeout === undefined && callerSignal === undefined) {
      let result: R | PromiseLike<R>;
      try {
        result = fn(unabortable);
      } catch (error) {
        this.#settleError(admitted, startedAt, error);
        return Promise.reject(error);
      }
      if (isThenable(result)) return this.#track(result, admitted, startedAt) as Promise<Awaited<R>>;
      this.#settleValue(admitted, startedAt, result);
      return Promise.resolve(result) as Promise<Awaited<R>>;
    }
    const deadlines = timeout === undefined ? undefined : (this.#deadlines ??= new Deadlines(this.#clock));
    const deadline = timeout === undefined ? Infinity : this.#clock() + timeout;
    const call = new GuardedCall<Awaited<R>>(this.#sink, admitted, startedAt, deadlines, timeout ?? 0, deadline, callerSignal);
    return call.run(fn as (context: CallContext) => Awaited<R> | PromiseLike<Awaited<R>>);
  }

  /**
   * Admits one call without wrapping a function, for callers whose outcome arrives elsewhere (a
   * stream's end, a callback). Returns null when refused; the refusal is counted and emitted.
   */
  tryAcquire(): Permit | null {
    const admitted = this.#admit();
    if (typeof admitted !== 'number') return null;
    return new CallPermit(this.#sink, admitted, this.#timed ? this.#clock() : 0);
  }

  /** Like `tryAcquire()`, but throws the `CircuitBreakerError` (with `retryAfterMs`) when refused. */
  acquire(): Permit {
    const admitted = this.#admit();
    if (typeof admitted !== 'number') throw admitted;
    return new CallPermit(this.#sink, admitted, this.#timed ? this.#clock() : 0);
  }

  /** The current state; an open breaker whose recovery time has passed reports (and becomes) half-open. */
  getState(): CircuitBreakerState {
    if (this.#state !== CLOSED) this.#refresh(this.#clock());
    return this.#state;
  }

  getMetrics(): CircuitBreakerMetrics {
    this.getState();
    const completed = this.#successes + this.#failures;
    return {
      totalCalls: this.#totalCalls,
      successes: this.#successes,
      failures: this.#failures,
      rejections: this.#rejections,
      ignored: this.#ignored,
      timeouts: this.#timeouts,
      slowCalls: this.#slowCalls,
      stateChanges: this.#history.toArray(),
      failureRate: completed === 0 ? 0 : this.#failures / completed,
      rejectionRate: this.#totalCalls === 0 ? 0 : this.#rejections / this.#totalCalls,
    };
  }

  /** Closes the breaker and forgets its window, backoff and isolation holds; counters are kept. */
  reset(): void {
    this.#isolations = 0;
    this.#isolationEpoch++;
    this.#close(this.#clock(), 'reset');
  }

  /**
   * Holds the breaker open (every call refused with reason "isolated") until every hold is
   * disposed; then it closes with a fresh window. Isolation wins over `disable()`.
   */
  isolate(): Isolation {
    const epoch = this.#isolationEpoch;
    if (this.#isolations++ === 0) this.#transition(OPEN, this.#clock(), 'isolated');
    let held = true;
    return {
      dispose: () => {
        if (!held || epoch !== this.#isolationEpoch) return;
        held = false;
        if (--this.#isolations === 0) this.#close(this.#clock(), 'isolation_released');
      },
    };
  }

  /** Turns the breaker into a pass-through: nothing is refused and nothing trips it, but metrics and events go on. */
  disable(): void {
    if (this.#disabled) return;
    this.#disabled = true;
    if (this.#isolations === 0) this.#close(this.#clock(), 'disabled');
  }

  /** Ends `disable()`; the breaker resumes from closed with the window it has. */
  enable(): void {
    this.#disabled = false;
  }

  get isIsolated(): boolean {
    return this.#isolations > 0;
  }

  get isDisabled(): boolean {
    return this.#disabled;
  }

  onStateChange(listener: (change: StateChange) => void): Unsubscribe {
    return this.#stateListeners.add(listener);
  }

  onSuccess(listener: (event: SuccessEvent) => void): Unsubscribe {
    return this.#timedListener(this.#successListeners.add(listener));
  }

  onFailure(listener: (event: FailureEvent) => void): Unsubscribe {
    return this.#timedListener(this.#failureListeners.add(listener));
  }

  onReject(listener: (error: CircuitBreakerError) => void): Unsubscribe {
    return this.#rejectListeners.add(listener);
  }

  /** A snapshot for `initialState`: state, window, backoff attempt and opening times (not counters or isolation). */
  toJSON(): CircuitBreakerSnapshot {
    this.getState();
    return {
      version: 1,
      state: this.#isolations > 0 ? CLOSED : this.#state,
      openedAt: this.#openedAt,
      openUntil: this.#openUntil,
      attempt: this.#attempt,
      window: this.#policy.toJSON(),
    };
  }

  #restore(snapshot: CircuitBreakerSnapshot): void {
    this.#policy.restore(snapshot.window);
    this.#attempt = snapshot.attempt;
    this.#openedAt = snapshot.openedAt;
    // Half-open cannot resume its probes in another process: it restarts as open with an
    // immediate probe. Time keeps running while the process is down, so an opening may have ended.
    this.#state = snapshot.state === CLOSED ? CLOSED : OPEN;
    this.#openUntil = snapshot.state === HALF_OPEN ? snapshot.openedAt : snapshot.openUntil;
  }

  #timedListener(unsubscribe: Unsubscribe): Unsubscribe {
    this.#timed = true;
    return () => {
      unsubscribe();
      this.#timed =
        this.#options.slowCallDurationMs !== Infinity || this.#successListeners.size > 0 || this.#failureListeners.size > 0;
    };
  }

  /** The generation the call reports against, or the refusal. Closed needs no clock read. */
  #admit(): number | CircuitBreakerError {
    this.#totalCalls++;
    return this.#state === CLOSED ? this.#generation : this.#admitSlow();
  }

  #admitSlow(): number | CircuitBreakerError {
    const now = this.#clock();
    this.#refresh(now);
    if (this.#state === CLOSED) return this.#generation;
    if (this.#state === OPEN) return this.#reject(now, this.#isolations > 0 ? 'isolated' : 'open');
    if (this.#probesInFlight < this.#options.halfOpenMaxProbes) {
      if (this.#probesInFlight++ === 0) this.#probeProgressAt = now;
      return this.#generation;
    }
    return this.#reject(now, 'half_open_busy');
  }

  #reject(now: number, reason: RejectionReason): CircuitBreakerError {
    this.#rejections++;
    const retryAfterMs =
      reason === 'open'
        ? this.#openUntil - now
        : reason === 'isolated'
          ? Infinity
          : this.#probeProgressAt + this.#options.halfOpenMaxWaitMs - now;
    const error = CircuitBreakerError.reject(this.name, this.#state, reason, Math.max(0, retryAfterMs));
    if (this.#rejectListeners.size !== 0) this.#rejectListeners.emit(error);
    return error;
  }

  /** Applies the transitions that time alone causes: open → half-open, and a hung half-open → open. */
  #refresh(now: number): void {
    if (this.#state === OPEN) {
      if (this.#isolations === 0 && now >= this.#openUntil) this.#transition(HALF_OPEN, now, 'recovery_timeout_elapsed');
    } else if (
      this.#state === HALF_OPEN &&
      this.#probesInFlight > 0 &&
      now - this.#probeProgressAt >= this.#options.halfOpenMaxWaitMs
    ) {
      this.#open(now, 'probe_max_wait_exceeded');
    }
  }

  #track<T>(promise: PromiseLike<T>, generation: number, startedAt: number): Promise<T> {
    // A foreign thenable may not chain (or may call back synchronously); adopt it first.
    const native = promise instanceof Promise ? (promise as Promise<T>) : Promise.resolve(promise);
    return native.then(
      (value) => {
        this.#settleValue(generation, startedAt, value);
        return value;
      },
      (error: unknown) => {
        this.#settleError(generation, startedAt, error);
        throw error;
      },
    );
  }

  #settleValue(generation: number, startedAt: number, value: unknown): void {
    const isResultFailure = this.#options.isResultFailure;
    if (isResultFailure !== undefined && isResultFailure(value)) this.#settle(generation, startedAt, FAILURE, value);
    else this.#settle(generation, startedAt, SUCCESS, undefined);
  }

  #settleError(generation: number, startedAt: number, error: unknown): void {
    this.#settle(generation, startedAt, this.#classify(error), error);
  }

  /** Aborts and the breaker's own refusals are never failures; then `isFailure` decides. */
  #classify(error: unknown): Outcome {
    if (error instanceof CircuitBreakerError) return IGNORED;
    if (error instanceof Error && error.name === 'AbortError') return IGNORED;
    const isFailure = this.#options.isFailure;
    return isFailure === undefined || isFailure(error) ? FAILURE : IGNORED;
  }

  #settle(generation: number, startedAt: number, outcome: Outcome, error: unknown): void {
    const clocked = this.#timed || this.#policy.needsClock;
    const now = clocked ? this.#clock() : 0;
    const durationMs = this.#timed ? now - startedAt : 0;
    const slow = durationMs >= this.#options.slowCallDurationMs;
    if (slow) this.#slowCalls++;
    if (outcome === SUCCESS) {
      this.#successes++;
      if (this.#successListeners.size !== 0) this.#successListeners.emit({ durationMs });
    } else if (outcome === FAILURE) {
      this.#failures++;
      if (this.#failureListeners.size !== 0) this.#failureListeners.emit({ error, durationMs });
    } else {
      this.#ignored++;
    }
    if (generation !== this.#generation || this.#disabled) return;
    if (this.#state === CLOSED) {
      if (outcome !== IGNORED && this.#policy.record(outcome === FAILURE, slow, now)) {
        this.#open(clocked ? now : this.#clock(), 'failure_threshold');
      }
    } else if (this.#state === HALF_OPEN) {
      this.#settleProbe(outcome === SUCCESS && slow ? FAILURE : outcome, clocked ? now : this.#clock());
    }
  }

  #settleProbe(outcome: Outcome, now: number): void {
    this.#probesInFlight--;
    this.#probeProgressAt = now;
    if (outcome === FAILURE) this.#open(now, 'probe_failed');
    else if (outcome === SUCCESS && ++this.#probeSuccesses >= this.#options.halfOpenSuccessThreshold) {
      this.#close(now, 'probe_succeeded');
    }
  }

  #open(now: number, reason: TransitionReason): void {
    this.#attempt++;
    this.#openedAt = now;
    this.#openUntil = now + openDurationMs(this.#attempt, this.#options.recoveryTimeout, this.#options.recoveryBackoff, this.#options.random);
    this.#transition(OPEN, now, reason);
  }

  #close(now: number, reason: TransitionReason): void {
    this.#attempt = 0;
    this.#policy.reset();
    this.#transition(CLOSED, now, reason);
  }

  #transition(to: CircuitBreakerState, now: number, reason: TransitionReason): void {
    const from = this.#state;
    this.#state = to;
    this.#generation++;
    this.#probesInFlight = 0;
    this.#probeSuccesses = 0;
    if (from === to) return;
    const change: StateChange = Object.freeze({ timestamp: now, fromState: from, toState: to, reason });
    this.#history.push(change);
    if (this.#stateListeners.size !== 0) this.#stateListeners.emit(change);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value instanceof Promise ||
    (value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function')
  );
}
