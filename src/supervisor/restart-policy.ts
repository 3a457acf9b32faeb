import { backoffDelayMs } from '../breaker/index.js';
import type { ResolvedSupervisorOptions } from './options.js';

export type RestartDecision = { relaunchInMs: number; attempt: number } | { exhausted: true; restartsInWindow: number };

/**
 * Backoff and budget for relaunching the model server: the first restart in a row is immediate,
 * the n-th after it waits `initialDelayMs × multiplier^(n−2)` (capped, the share `jitter` randomised
 * away: the breaker's backoff); more than `maxRestarts` within `windowMs`
 * gives up; a server that stays ready for `stableAfterMs` wipes the slate.
 */
export class RestartPolicy {
  readonly #options: ResolvedSupervisorOptions['restart'];
  readonly #now: () => number;
  readonly #random: () => number;
  #restarts: number[] = [];
  #attempt = 0;
  #readySince: number | undefined;

  constructor(options: ResolvedSupervisorOptions['restart'], now: () => number = Date.now, random: () => number = Math.random) {
    this.#options = options;
    this.#now = now;
    this.#random = random;
  }

  /** Called when a restart is needed: how long to wait before relaunching, or that the budget is spent. */
  next(): RestartDecision {
    const now = this.#now();
    this.#forgetIfStable(now);
    this.#readySince = undefined;
    this.#restarts = this.#restarts.filter((at) => now - at < this.#options.windowMs);
    if (this.#restarts.length >= this.#options.maxRestarts) return { exhausted: true, restartsInWindow: this.#restarts.length };
    this.#restarts.push(now);
    this.#attempt++;
    // The first restart in a row is at once: a server that died once is most likely fine again,
    // and every second of backoff is a second of 503s. Backoff is for a server that keeps dying.
    if (this.#attempt === 1) return { relaunchInMs: 0, attempt: 1 };
    const { initialDelayMs, multiplier, maxDelayMs, jitter } = this.#options;
    const delay = backoffDelayMs(this.#attempt - 2, { baseMs: initialDelayMs, multiplier, maxMs: maxDelayMs, jitter }, this.#random);
    return { relaunchInMs: Math.round(delay), attempt: this.#attempt };
  }

  noteReady(): void {
    this.#readySince ??= this.#now();
  }

  /**
   * The last restart is given back: it turned out to be caused by a request now known as poison
   * (the request's first crash; its second one is never counted), which will not be sent again.
   */
  refund(): void {
    this.#restarts.pop();
    // Nor was it the server's instability: the backoff steps back as well.
    this.#attempt = Math.max(0, this.#attempt - 1);
  }

  /** A manual restart or start: the budget and backoff start again. */
  reset(): void {
    this.#restarts = [];
    this.#attempt = 0;
    this.#readySince = undefined;
  }

  #forgetIfStable(now: number): void {
    if (this.#readySince !== undefined && now - this.#readySince >= this.#options.stableAfterMs) this.reset();
  }
}
