/** The three states of the guide's contract, as their wire values. */
export const CircuitBreakerState = {
  CLOSED: 'closed',
  OPEN: 'open',
  HALF_OPEN: 'half_open',
} as const;

export type CircuitBreakerState = (typeof CircuitBreakerState)[keyof typeof CircuitBreakerState];

/** Why the breaker moved; carried by every state change and its event. */
export type TransitionReason =
  | 'failure_threshold'
  | 'recovery_timeout_elapsed'
  | 'probe_succeeded'
  | 'probe_failed'
  | 'probe_max_wait_exceeded'
  | 'isolated'
  | 'isolation_released'
  | 'disabled'
  | 'reset';

export interface StateChange {
  /** Milliseconds since the epoch, from the breaker's clock. */
  timestamp: number;
  fromState: CircuitBreakerState;
  toState: CircuitBreakerState;
  reason: TransitionReason;
}
