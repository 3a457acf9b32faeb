import type { CircuitBreaker, Unsubscribe } from '../breaker/index.js';
import { canary, type Endpoint } from './canary.js';
import type { Transition } from './supervisor-types.js';

/** What the breaker watch needs of the supervisor. */
export interface BreakerWatchTarget {
  /** The launch now serving (an identity to compare later) and its URL; undefined unless ready or degraded. */
  serving(): { launch: object; endpoint: Endpoint } | undefined;
  /** Ready → degraded (the breaker is not closed). */
  degrade(detail: string): void;
  /** Degraded → ready (the breaker closed). */
  recover(): void;
  restart(detail: string): void;
  onTransition(listener: (transition: Transition) => void): Unsubscribe;
}

/**
 * Follows the inference breaker: open means degraded; open for longer than `whenOpenForMs` with
 * a failing canary means restart; a restart that reaches ready resets the breaker, so clients
 * are not refused by the memory of the old process.
 */
export function watchBreaker(breaker: CircuitBreaker, target: BreakerWatchTarget, options: { whenOpenForMs: number; canaryTimeoutMs: number }): Unsubscribe {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    timer = setTimeout(() => void check(), options.whenOpenForMs);
    timer.unref();
  };
  const check = async (): Promise<void> => {
    timer = undefined;
    const judged = target.serving();
    if (breaker.getState() === 'closed' || !judged) return;
    const result = await canary(judged.endpoint, options.canaryTimeoutMs);
    // While the canary ran, the launch may have been replaced (liveness, exit): the verdict was
    // on the old one, and must not end its successor mid-start.
    if (target.serving()?.launch !== judged.launch) return;
    if (!result.ok) target.restart(`inference breaker open ${options.whenOpenForMs} ms and the canary failed: ${result.reason}`);
    else arm();
  };
  const offState = breaker.onStateChange(({ toState }) => {
    if (toState === 'closed') {
      clearTimeout(timer);
      timer = undefined;
      target.recover();
      return;
    }
    target.degrade(`inference breaker ${toState}`);
    if (timer === undefined) arm();
  });
  const offReady = target.onTransition(({ to, from }) => {
    if (to === 'ready' && from === 'starting') breaker.reset();
  });
  return () => {
    offState();
    offReady();
    clearTimeout(timer);
  };
}
