/** Stops a listener; calling it twice is harmless. */
export type Unsubscribe = () => void;

/**
 * A plain list of callbacks. The breaker checks `size` before building an event, so an event
 * nobody listens to costs one comparison.
 */
export class Listeners<T> {
  #list: Array<(event: T) => void> = [];

  get size(): number {
    return this.#list.length;
  }

  add(listener: (event: T) => void): Unsubscribe {
    if (typeof listener !== 'function') throw new TypeError('a listener must be a function');
    // Copy on write, so a listener that unsubscribes during emit does not skip its neighbour.
    this.#list = [...this.#list, listener];
    return () => {
      this.#list = this.#list.filter((l) => l !== listener);
    };
  }

  emit(event: T): void {
    for (const listener of this.#list) {
      try {
        listener(event);
      } catch (error) {
        // A broken listener must not leave the breaker half-way through a transition; its error
        // still surfaces, as an uncaught exception on the next tick.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
