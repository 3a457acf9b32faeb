/**
 * Lets one request have the model server to itself: while a suspect (a request in flight when the
 * server died) is replayed, other attempts wait before they are sent, so that if the server dies
 * again, it died with that request alone and the verdict names it, not a bystander. The wait is
 * bounded (`whenClear`'s `maxWaitMs`): past it an attempt goes beside the suspect, whose next loss
 * then convicts nobody.
 */
export class AloneGate {
  #holders = 0;
  readonly #waiters = new Set<() => void>();

  get held(): boolean {
    return this.#holders > 0;
  }

  /** Takes the server for one request; the function returned gives it back (once; later calls do nothing). */
  hold(): () => void {
    this.#holders++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#holders > 0) return;
      for (const waiter of [...this.#waiters]) waiter();
    };
  }

  /** Resolves once nobody holds the server, after `maxWaitMs` at most, or as soon as `signal` aborts. */
  whenClear(signal: AbortSignal, maxWaitMs: number): Promise<void> {
    if (!this.held || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, maxWaitMs);
      signal.addEventListener('abort', done, { once: true });
      this.#waiters.add(done);
    });
  }
}
