import type { RecoveryBackoffOptions } from './backoff.js';
import { ConsecutiveFailures } from './policies/consecutive.js';
import { CountWindow } from './policies/count-window.js';
import { RateThresholds, type PolicySnapshot, type TripPolicy } from './policies/policy.js';
import { TimeWindow } from './policies/time-window.js';
import { CircuitBreakerState } from './state.js';

/**
 * The defaults of every option that has one, in one place: the library fills them in, and an
 * application that configures breakers (mlx-guard's own config) shows and applies the same.
 */
export const BREAKER_DEFAULTS = {
  failureThreshold: 5,
  recoveryTimeout: 60_000,
  halfOpenSuccessThreshold: 1,
  halfOpenMaxProbes: 1,
  maxStateChanges: 100,
  tripPolicy: { minimumCalls: 10, failureRateThreshold: 0.5, buckets: 10 },
  recoveryBackoff: { multiplier: 2, jitter: 0 },
} as const;

/** Rate thresholds shared by the windowed policies. Rates must be strictly above a threshold. */
export interface RatePolicyOptions {
  /** Fewer completed calls than this in the window never open the breaker. Default 10. */
  minimumCalls?: number;
  /** Failed calls / completed calls above which the breaker opens, 0..1 exclusive of 1. Default 0.5. */
  failureRateThreshold?: number;
  /** Slow calls / completed calls above which the breaker opens. Needs `slowCallDurationMs`. Default: off. */
  slowCallRateThreshold?: number;
}

export type TripPolicyOptions =
  | { type: 'consecutive' }
  | ({ type: 'count'; windowSize: number } & RatePolicyOptions)
  | ({ type: 'time'; windowMs: number; buckets?: number } & RatePolicyOptions);

/** What `toJSON()` writes and `initialState` takes back. */
export interface CircuitBreakerSnapshot {
  version: 1;
  state: CircuitBreakerState;
  /** Epoch ms when the breaker last opened (0 if it never did). */
  openedAt: number;
  /** Epoch ms when an open breaker lets a probe through. */
  openUntil: number;
  /** How many times in a row it has opened without closing (drives the backoff). */
  attempt: number;
  window: PolicySnapshot;
}

export interface CircuitBreakerOptions {
  /** Shown in errors, events and metrics. Default "circuit_breaker". */
  name?: string;
  /** Consecutive failures that open the breaker (the default `consecutive` policy). Default 5. */
  failureThreshold?: number;
  /** How long an opening lasts before a probe is let through, in milliseconds. Default 60 000. */
  recoveryTimeout?: number;
  /** Probe successes that close a half-open breaker. Default 1. */
  halfOpenSuccessThreshold?: number;
  /** Probes allowed in flight at once while half-open; other callers are refused. Default 1. */
  halfOpenMaxProbes?: number;
  /** A half-open breaker whose probes make no progress for this long reopens. Default `recoveryTimeout`; `Infinity` turns it off. */
  halfOpenMaxWaitMs?: number;
  /** How the closed breaker decides to open. Default `{ type: 'consecutive' }` with `failureThreshold`. */
  tripPolicy?: TripPolicyOptions;
  /** A call that takes at least this long is slow (see `slowCallRateThreshold`; a slow probe fails). Default: off. */
  slowCallDurationMs?: number;
  /** Grow each consecutive opening from `recoveryTimeout` up to a cap. Default: every opening lasts `recoveryTimeout`. */
  recoveryBackoff?: RecoveryBackoffOptions;
  /** Default per-call deadline of `execute`, in milliseconds. Default: none (and no timer). */
  timeout?: number;
  /** Which errors count as failures; the rest are ignored. Default: all but aborts and the breaker's own refusals. */
  isFailure?: (error: unknown) => boolean;
  /** Which returned values count as failures (the caller still receives them). Default: none. */
  isResultFailure?: (value: unknown) => boolean;
  /** How many state changes `getMetrics().stateChanges` keeps. Default 100. */
  maxStateChanges?: number;
  /** Epoch milliseconds; inject one in tests instead of sleeping. Default `Date.now`. */
  clock?: () => number;
  /** A number in [0, 1) for backoff jitter. Default `Math.random`. */
  random?: () => number;
  /** A `toJSON()` snapshot to start from, so a restarted process keeps its breaker. */
  initialState?: CircuitBreakerSnapshot;
}

export interface ResolvedOptions {
  name: string;
  recoveryTimeout: number;
  halfOpenSuccessThreshold: number;
  halfOpenMaxProbes: number;
  halfOpenMaxWaitMs: number;
  slowCallDurationMs: number;
  recoveryBackoff: Required<RecoveryBackoffOptions> | undefined;
  timeout: number | undefined;
  isFailure: ((error: unknown) => boolean) | undefined;
  isResultFailure: ((value: unknown) => boolean) | undefined;
  maxStateChanges: number;
  clock: () => number;
  random: () => number;
  policy: TripPolicy;
  initialState: CircuitBreakerSnapshot | undefined;
}

const knownOptions = new Set<string>([
  'name', 'failureThreshold', 'recoveryTimeout', 'halfOpenSuccessThreshold', 'halfOpenMaxProbes', 'halfOpenMaxWaitMs',
  'tripPolicy', 'slowCallDurationMs', 'recoveryBackoff', 'timeout', 'isFailure', 'isResultFailure', 'maxStateChanges',
  'clock', 'random', 'initialState',
]);

function fail(option: string, requirement: string, value: unknown): never {
  const shown = typeof value === 'string' ? `"${value}"` : typeof value === 'function' ? 'a function' : String(value);
  throw new RangeError(`CircuitBreaker option "${option}" must be ${requirement} (got ${shown})`);
}

function integer(option: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) fail(option, `an integer >= ${min}`, value);
  return value;
}

function duration(option: string, value: unknown, fallback: number, allowInfinity = false): number {
  if (value === undefined) return fallback;
  const ok = typeof value === 'number' && value >= 0 && (Number.isFinite(value) || (allowInfinity && value === Infinity));
  if (!ok) fail(option, allowInfinity ? 'a number of milliseconds >= 0, or Infinity' : 'a finite number of milliseconds >= 0', value);
  return value;
}

function ratio(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0 && value < 1)) fail(option, 'a number from 0 up to (not including) 1', value);
  return value;
}

function callback<T>(option: string, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new TypeError(`CircuitBreaker option "${option}" must be a function (got ${typeof value})`);
  return value as T;
}

function object(option: string, value: unknown): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) fail(option, 'an object', value);
  return value as Record<string, unknown>;
}

function rateThresholds(prefix: string, options: Record<string, unknown>, slowCallsOn: boolean): RateThresholds {
  const slowCallRateThreshold = ratio(`${prefix}.slowCallRateThreshold`, options.slowCallRateThreshold, Infinity);
  if (options.slowCallRateThreshold !== undefined && !slowCallsOn) {
    fail(`${prefix}.slowCallRateThreshold`, 'set together with "slowCallDurationMs"', options.slowCallRateThreshold);
  }
  return new RateThresholds(
    integer(`${prefix}.minimumCalls`, options.minimumCalls, BREAKER_DEFAULTS.tripPolicy.minimumCalls, 1),
    ratio(`${prefix}.failureRateThreshold`, options.failureRateThreshold, BREAKER_DEFAULTS.tripPolicy.failureRateThreshold),
    slowCallRateThreshold,
  );
}

function tripPolicy(value: unknown, failureThreshold: number, slowCallsOn: boolean): TripPolicy {
  const options = object('tripPolicy', value) ?? { type: 'consecutive' };
  switch (options.type) {
    case 'consecutive':
      return new ConsecutiveFailures(failureThreshold);
    case 'count':
      return new CountWindow(integer('tripPolicy.windowSize', options.windowSize ?? NaN, 0, 1), rateThresholds('tripPolicy', options, slowCallsOn));
    case 'time': {
      const windowMs = duration('tripPolicy.windowMs', options.windowMs ?? NaN, 0);
      if (windowMs === 0) fail('tripPolicy.windowMs', 'greater than 0', windowMs);
      return new TimeWindow(windowMs, integer('tripPolicy.buckets', options.buckets, BREAKER_DEFAULTS.tripPolicy.buckets, 1), rateThresholds('tripPolicy', options, slowCallsOn));
    }
    default:
      return fail('tripPolicy.type', 'one of "consecutive", "count", "time"', options.type);
  }
}

function backoff(value: unknown): Required<RecoveryBackoffOptions> | undefined {
  const options = object('recoveryBackoff', value);
  if (options === undefined) return undefined;
  const multiplier = options.multiplier ?? BREAKER_DEFAULTS.recoveryBackoff.multiplier;
  if (typeof multiplier !== 'number' || !(multiplier >= 1) || !Number.isFinite(multiplier)) {
    fail('recoveryBackoff.multiplier', 'a finite number >= 1', multiplier);
  }
  const jitter = options.jitter ?? BREAKER_DEFAULTS.recoveryBackoff.jitter;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) fail('recoveryBackoff.jitter', 'a number from 0 to 1', jitter);
  return { multiplier, jitter, maxMs: duration('recoveryBackoff.maxMs', options.maxMs ?? NaN, 0) };
}

const states = new Set<unknown>(Object.values(CircuitBreakerState));

function snapshot(value: unknown): CircuitBreakerSnapshot | undefined {
  const options = object('initialState', value);
  if (options === undefined) return undefined;
  if (options.version !== 1) fail('initialState.version', '1 (a snapshot written by toJSON())', options.version);
  if (!states.has(options.state)) fail('initialState.state', 'one of "closed", "open", "half_open"', options.state);
  for (const field of ['openedAt', 'openUntil'] as const) {
    if (typeof options[field] !== 'number' || !Number.isFinite(options[field])) fail(`initialState.${field}`, 'a finite epoch time in milliseconds', options[field]);
  }
  integer('initialState.attempt', options.attempt, 0, 0);
  object('initialState.window', options.window);
  return options as unknown as CircuitBreakerSnapshot;
}

/** Checks every option and fills in defaults; each problem is a RangeError (TypeError for callbacks) naming the option. */
export function resolveOptions(options: CircuitBreakerOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) fail('options', 'an object', options);
  for (const key of Object.keys(options)) {
    if (!knownOptions.has(key)) {
      const camel = key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
      const hint = knownOptions.has(camel) ? ` (did you mean "${camel}"?)` : '';
      throw new RangeError(`CircuitBreaker option "${key}" is not an option${hint}`);
    }
  }
  const name = options.name ?? 'circuit_breaker';
  if (typeof name !== 'string' || name.length === 0) fail('name', 'a non-empty string', name);
  const recoveryTimeout = duration('recoveryTimeout', options.recoveryTimeout, BREAKER_DEFAULTS.recoveryTimeout);
  const slowCallDurationMs = duration('slowCallDurationMs', options.slowCallDurationMs, Infinity);
  const timeout = options.timeout === undefined ? undefined : duration('timeout', options.timeout, 0);
  return {
    name,
    recoveryTimeout,
    halfOpenSuccessThreshold: integer('halfOpenSuccessThreshold', options.halfOpenSuccessThreshold, BREAKER_DEFAULTS.halfOpenSuccessThreshold, 1),
    halfOpenMaxProbes: integer('halfOpenMaxProbes', options.halfOpenMaxProbes, BREAKER_DEFAULTS.halfOpenMaxProbes, 1),
    halfOpenMaxWaitMs: duration('halfOpenMaxWaitMs', options.halfOpenMaxWaitMs, recoveryTimeout, true),
    slowCallDurationMs,
    recoveryBackoff: backoff(options.recoveryBackoff),
    timeout,
    isFailure: callback('isFailure', options.isFailure),
    isResultFailure: callback('isResultFailure', options.isResultFailure),
    maxStateChanges: integer('maxStateChanges', options.maxStateChanges, BREAKER_DEFAULTS.maxStateChanges, 0),
    clock: callback('clock', options.clock) ?? Date.now,
    random: callback('random', options.random) ?? Math.random,
    policy: tripPolicy(options.tripPolicy, integer('failureThreshold', options.failureThreshold, BREAKER_DEFAULTS.failureThreshold, 1), slowCallDurationMs !== Infinity),
    initialState: snapshot(options.initialState),
  };
}
