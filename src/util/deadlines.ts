import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The promise's value, or `fallback` once `ms` have passed. The timer never outlives the race
 * (a backoff of minutes must not keep the process alive after a stop); given a function, the
 * promise is started with a signal that aborts when the race ends, to drop its own listeners.
 */
export async function within<T, F>(promise: Promise<T> | ((raceOver: AbortSignal) => Promise<T>), ms: number, fallback: F): Promise<T | F> {
  const raceOver = new AbortController();
  const racing = typeof promise === 'function' ? promise(raceOver.signal) : promise;
  try {
    return await Promise.race([racing, sleep(Math.max(0, ms), fallback, { signal: raceOver.signal })]);
  } finally {
    raceOver.abort();
  }
}

/** Resolves once `signal` aborts (at once if it has); rejects, dropping its listener, when `giveUp` aborts first. */
export function aborted(signal: AbortSignal, giveUp: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return once(signal, 'abort', { signal: giveUp }).then(() => undefined);
}

/** The promise's value, or a rejection with `signal.reason` as soon as `signal` aborts. */
export async function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  const raceOver = new AbortController();
  try {
    return await Promise.race([
      promise,
      aborted(signal, raceOver.signal).then(() => {
        throw signal.reason;
      }),
    ]);
  } finally {
    raceOver.abort();
  }
}
