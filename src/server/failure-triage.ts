import type { Journal } from '../journal/index.js';
import type { Serving } from '../supervisor/index.js';

/** Whose failure a failed call is: its own request's, or the model server's. */
export type Blame = 'request' | 'server';

/** Another request's progress this recent says the server serves. */
const OTHERS_SERVED_WITHIN_MS = 1_000;
/** One canary's verdict answers the failures of this long after it: a burst of them costs one canary. */
const VERDICT_FRESH_MS = 1_000;

/**
 * Tells a request's failure from the model server's, before the breaker every client shares hears
 * of it. Content can make a healthy server drop the connection or answer 500 (a template argument
 * it chokes on, a prompt it cannot take); counted as the server's, five such requests opened the
 * breaker for everyone. A failure is the request's when another request made progress within the
 * last second, or, when none did, when a canary (`probe`: a one-token completion) passes; one
 * canary, run once at a time, answers every failure of the second after it. A server that fails
 * its canary too is failing: then the breaker hears of it, as fast as before but for that canary.
 */
export class FailureTriage {
  #last: { baseUrl: string; healthy: Promise<boolean>; settledAt: number | undefined } | undefined;

  constructor(
    readonly journal: Journal,
    readonly probe: (serving: Serving) => Promise<boolean>,
  ) {}

  async blame(serving: Serving): Promise<Blame> {
    const now = this.journal.now();
    if (now - this.journal.lastProgressAt <= OTHERS_SERVED_WITHIN_MS) return 'request';
    let last = this.#last;
    const stale = !last || last.baseUrl !== serving.baseUrl || (last.settledAt !== undefined && now - last.settledAt > VERDICT_FRESH_MS);
    if (stale) {
      const verdict: NonNullable<typeof last> = { baseUrl: serving.baseUrl, settledAt: undefined, healthy: this.probe(serving).catch(() => false) };
      void verdict.healthy.then(() => (verdict.settledAt = this.journal.now()));
      this.#last = last = verdict;
    }
    return (await last!.healthy) ? 'request' : 'server';
  }
}
