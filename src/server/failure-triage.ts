import type { Journal } from '../journal/index.js';
import type { Serving } from '../supervisor/index.js';

/** Whose failure a failed call is: its own request's, or the model server's. */
export type Blame = 'request' | 'server';

/** A failed canary says "failing" for this long: a burst of failures then costs one canary. */
const FAILING_FOR_MS = 1_000;

/**
 * Tells a request's failure from the model server's, before the breaker every client shares hears
 * of it. Content can make a healthy server drop the connection or answer 500 (a template argument
 * it chokes on, a prompt it cannot take); counted as the server's, five such requests opened the
 * breaker for everyone. So a failure is the request's only when the server is shown healthy after
 * the request was sent: a canary (`probe`, a one-token completion) begun since then passes. A
 * canary answers every failure of a request sent before it began (a burst costs one), a failing
 * one every failure for a second after it; so there is at most one canary per failure. Another
 * request's progress is not taken as proof: a server that fails on and off serves some requests
 * between its failures.
 */
export class FailureTriage {
  #last: { baseUrl: string; startedAt: number; healthy: Promise<boolean>; failedAt: number | undefined } | undefined;

  constructor(
    readonly journal: Journal,
    readonly probe: (serving: Serving) => Promise<boolean>,
  ) {}

  /** `sentAt`: when the failed request went to the server (the journal's clock). */
  async blame(serving: Serving, sentAt: number): Promise<Blame> {
    const now = this.journal.now();
    let last = this.#last;
    const usable =
      last !== undefined &&
      last.baseUrl === serving.baseUrl &&
      (last.failedAt === undefined ? last.startedAt >= sentAt : now - last.failedAt <= FAILING_FOR_MS);
    if (!usable) {
      const verdict: NonNullable<typeof last> = { baseUrl: serving.baseUrl, startedAt: now, failedAt: undefined, healthy: this.probe(serving).catch(() => false) };
      void verdict.healthy.then((ok) => {
        if (!ok) verdict.failedAt = this.journal.now();
      });
      this.#last = last = verdict;
    }
    return (await last!.healthy) ? 'request' : 'server';
  }
}
