import { once } from 'node:events';

/** setTimeout's largest delay; a longer one fires at once. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/**
 * The promise's value, or `fallback` once `ms` have passed. The timer never outlives the race
 * (a backoff of minutes must not keep the process alive after a stop); given a function, the
 * promise is started with a signal that aborts when the race ends, to drop its own listeners.
 * Every request passes here: a plain timer, no abort machinery unless a function asks for it.
 */
export function within<T, F>(promise: Promise<T> | ((raceOver: AbortSignal) => Promise<T>), ms: number, fallback: F): Promise<T | F> {
  const raceOver = typeof promise === 'function' ? new AbortController() : undefined;
  const racing = typeof promise === 'function' ? promise(raceOver!.signal) : promise;
  return new Promise<T | F>((resolve, reject) => {
    const over = () => {
      clearTimeout(timer);
      raceOver?.abort();
    };
    const timer = setTimeout(() => {
      over();
      resolve(fallback);
    }, Math.min(LONGEST_TIMER_MS, Math.max(0, ms)));
    // The timer goes before the caller resumes, not a microtask later.
    racing.then(
      (value) => (over(), resolve(value)),
      (error: unknown) => (over(), reject(error)),
    );
  });
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
