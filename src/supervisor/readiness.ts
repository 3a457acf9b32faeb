import { setTimeout as sleep } from 'node:timers/promises';
import { canary, type Endpoint } from './canary.js';
import type { ResolvedSupervisorOptions } from './options.js';

/** Why a start failed before the model server answered, as a restart cause with its detail. */
export interface StartFailure {
  cause: 'startup_timeout' | 'startup_stall';
  detail: string;
}

/**
 * Canaries until one passes. Each waits up to the time left (the real server holds completions
 * until the model is loaded); the start fails at the deadline, or once nothing has been printed or
 * reported for `stallTimeoutMs`. `ended` resolving (a restart trigger, a stop) ends the wait with it.
 */
export async function awaitReady<T>(
  endpoint: Endpoint,
  { timeoutMs, stallTimeoutMs, pollIntervalMs }: ResolvedSupervisorOptions['startup'],
  context: { startedAt: number; lastOutputAt: () => number; onWake: (wake: () => void) => void; ended: Promise<T>; now?: () => number },
): Promise<'ready' | StartFailure | T> {
  const now = context.now ?? Date.now;
  const abort = new AbortController();
  void context.ended.then(() => abort.abort());
  while (!abort.signal.aborted) {
    const at = now();
    if (at - context.startedAt >= timeoutMs) return { cause: 'startup_timeout', detail: `not ready within ${timeoutMs} ms` };
    if (at - context.lastOutputAt() >= stallTimeoutMs) return { cause: 'startup_stall', detail: `no output or progress for ${stallTimeoutMs} ms while starting` };
    const stalled = new AbortController();
    const stallWatch = setInterval(() => {
      if (now() - context.lastOutputAt() >= stallTimeoutMs) stalled.abort();
    }, Math.min(1_000, stallTimeoutMs));
    const budget = Math.min(timeoutMs - (at - context.startedAt), stallTimeoutMs);
    const result = await canary(endpoint, budget, AbortSignal.any([abort.signal, stalled.signal]));
    clearInterval(stallWatch);
    if (result.ok) return 'ready';
    if (abort.signal.aborted) break;
    // Poll again after the interval, or at once when the host reports it is listening or loaded.
    const wake = new AbortController();
    context.onWake(() => wake.abort());
    await sleep(pollIntervalMs, undefined, { signal: AbortSignal.any([abort.signal, wake.signal]) }).catch(() => undefined);
  }
  return context.ended;
}
