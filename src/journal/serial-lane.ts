/**
 * One holder at a time, in arrival order. A waiter whose signal aborts leaves the line; the
 * holder lets the next one in by calling the function it was given (once; later calls do nothing).
 */
export class SerialLane {
  #busy = false;
  readonly #waiting: Array<() => void> = [];

  get waiting(): number {
    return this.#waiting.length;
  }

  enter(signal: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const onAbort = () => {
        const at = this.#waiting.indexOf(grant);
        if (at >= 0) this.#waiting.splice(at, 1);
        reject(signal.reason);
      };
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        this.#busy = true;
        let left = false;
        resolve(() => {
          if (left) return;
          left = true;
          this.#next();
        });
      };
      if (!this.#busy) return grant();
      this.#waiting.push(grant);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  #next(): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter();
    else this.#busy = false;
  }
}
