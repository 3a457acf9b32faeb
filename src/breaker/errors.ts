import type { CircuitBreakerState } from './state.js';

/** Why a call was refused without running. */
export type RejectionReason = 'open' | 'half_open_busy' | 'isolated';

const rejectionMessages: Record<RejectionReason, string> = {
  open: 'circuit is open',
  half_open_busy: 'circuit is half-open and every probe slot is taken',
  isolated: 'circuit is isolated (held open by hand)',
};

/**
 * The breaker refused a call; the wrapped function did not run.
 *
 * The breaker builds these with `CircuitBreakerError.reject()`, which captures no stack trace:
 * refusing is the breaker's normal fast path, and capturing a stack costs microseconds where the
 * refusal costs nanoseconds (`npm run bench` times a refusal against a bare throw). `message` and
 * `stack` are derived from the fields.
 */
export class CircuitBreakerError extends Error {
  declare readonly code: 'ERR_CIRCUIT_OPEN';
  declare readonly breakerName: string;
  declare readonly state: CircuitBreakerState;
  declare readonly reason: RejectionReason;
  /** How long until the breaker may let a call through again; `Infinity` while isolated. */
  declare readonly retryAfterMs: number;

  constructor(breakerName: string, state: CircuitBreakerState, reason: RejectionReason, retryAfterMs: number) {
    super(`${breakerName}: ${rejectionMessages[reason]}`);
    assign(this, breakerName, state, reason, retryAfterMs);
  }

  /** The stackless form the breaker uses on its hot path. */
  static reject(breakerName: string, state: CircuitBreakerState, reason: RejectionReason, retryAfterMs: number): CircuitBreakerError {
    return assign(Object.create(CircuitBreakerError.prototype), breakerName, state, reason, retryAfterMs);
  }
}

function assign(
  error: CircuitBreakerError,
  breakerName: string,
  state: CircuitBreakerState,
  reason: RejectionReason,
  retryAfterMs: number,
): CircuitBreakerError {
  const fields = error as { -readonly [K in keyof CircuitBreakerError]: CircuitBreakerError[K] };
  fields.breakerName = breakerName;
  fields.state = state;
  fields.reason = reason;
  fields.retryAfterMs = retryAfterMs;
  return error;
}

Object.defineProperties(CircuitBreakerError.prototype, {
  name: { value: 'CircuitBreakerError', configurable: true, writable: true },
  code: { value: 'ERR_CIRCUIT_OPEN', configurable: true },
  message: {
    configurable: true,
    get(this: CircuitBreakerError) {
      return `${this.breakerName}: ${rejectionMessages[this.reason]}`;
    },
  },
  stack: {
    configurable: true,
    get(this: CircuitBreakerError) {
      return `${this.name}: ${this.message}`;
    },
  },
});

/** A per-call deadline ran out: the call counts as a failure and its signal is aborted. */
export class CircuitBreakerTimeoutError extends Error {
  declare readonly code: 'ERR_CIRCUIT_TIMEOUT';
  readonly breakerName: string;
  readonly timeoutMs: number;

  constructor(breakerName: string, timeoutMs: number) {
    super(`${breakerName}: call timed out after ${timeoutMs} ms`);
    this.breakerName = breakerName;
    this.timeoutMs = timeoutMs;
  }
}

Object.defineProperties(CircuitBreakerTimeoutError.prototype, {
  name: { value: 'CircuitBreakerTimeoutError', configurable: true, writable: true },
  code: { value: 'ERR_CIRCUIT_TIMEOUT', configurable: true },
});

export function isCircuitBreakerError(error: unknown): error is CircuitBreakerError {
  return error instanceof CircuitBreakerError;
}

/** True for every error the breaker itself makes (refusals and timeouts), false for the callee's own. */
export function isBreakerError(error: unknown): error is CircuitBreakerError | CircuitBreakerTimeoutError {
  return error instanceof CircuitBreakerError || error instanceof CircuitBreakerTimeoutError;
}
