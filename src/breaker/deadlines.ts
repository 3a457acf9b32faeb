/** Something with a deadline that may finish before it. */
export interface Expiring {
  readonly deadline: number;
  readonly settled: boolean;
  expire(): void;
}

type Timer = ReturnType<typeof setTimeout> & { ref?: () => unknown; unref?: () => unknown };

/**
 * Per-call deadlines on one timer per breaker instead of a `setTimeout` per call (which costs
 * ~300 ns, a third of a guarded call). Calls with the same timeout expire in the order they
 * started, so each distinct timeout value keeps a FIFO and the timer is armed for the earliest
 * head. A call that settles first is only flagged; flagged heads are dropped as they surface.
 *
 * The timer keeps the process alive only while some call is pending, as a per-call timer would.
 */
export class Deadlines {
  readonly #queues = new Map<number, Fifo>();
  readonly #clock: () => number;
  #timer: Timer | undefined;
  #timerAt = Infinity;
  #pending = 0;

  constructor(clock: () => number) {
    this.#clock = clock;
  }

  add(timeoutMs: number, entry: Expiring): void {
    let queue = this.#queues.get(timeoutMs);
    if (queue === undefined) {
      queue = new Fifo();
      this.#queues.set(timeoutMs, queue);
    }
    queue.push(entry);
    if (this.#pending++ === 0) this.#timer?.ref?.();
    if (entry.deadline < this.#timerAt) this.#arm(entry.deadline);
  }

  /** `entry` (added with `timeoutMs`) settled before its deadline. */
  settled(timeoutMs: number): void {
    this.#queues.get(timeoutMs)?.dropSettledHeads();
    if (--this.#pending === 0) this.#timer?.unref?.();
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(this.#fire, Math.max(0, at - this.#clock())) as Timer;
    if (this.#pending === 0) this.#timer.unref?.();
  }

  readonly #fire = (): void => {
    // The timer was armed for #timerAt; trusting it keeps deadlines working with an injected
    // clock that real (or fake) timers do not move.
    const now = Math.max(this.#clock(), this.#timerAt);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    let next = Infinity;
    for (const [timeoutMs, queue] of this.#queues) {
      for (let head = queue.peek(); head !== undefined; head = queue.peek()) {
        if (head.settled) {
          queue.shift();
        } else if (head.deadline <= now) {
          queue.shift();
          this.#pending--;
          head.expire();
        } else {
          next = Math.min(next, head.deadline);
          break;
        }
      }
      if (queue.isEmpty) this.#queues.delete(timeoutMs);
    }
    if (next !== Infinity) this.#arm(next);
  };
}

/** An array queue with a moving head, compacted once the dead prefix dominates. */
class Fifo {
  #items: Expiring[] = [];
  #head = 0;

  get isEmpty(): boolean {
    return this.#head === this.#items.length;
  }

  push(entry: Expiring): void {
    this.#items.push(entry);
  }

  peek(): Expiring | undefined {
    return this.#items[this.#head];
  }

  shift(): void {
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }

  dropSettledHeads(): void {
    while (this.peek()?.settled) this.shift();
  }
}
