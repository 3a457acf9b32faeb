/** One second of traffic, as the status page charts it. */
export interface TrafficSecond {
  /** Epoch seconds. */
  at: number;
  /** Finished requests by status class: 2xx, 4xx, 5xx. */
  ok: number;
  clientErrors: number;
  serverErrors: number;
  /** Latency of the requests that finished, in ms: median and 95th percentile (undefined without any). */
  p50?: number;
  p95?: number;
  /** Output tokens of the answers that finished. */
  tokens: number;
}

/**
 * Requests and tokens per second over the last minutes, for the status page: a ring of
 * one-second buckets (bounded: `seconds` of them), each keeping at most `samplesPerSecond`
 * latencies for its percentiles.
 */
export class Traffic {
  readonly #buckets: Array<{ at: number; ok: number; clientErrors: number; serverErrors: number; latencies: number[]; tokens: number }> = [];

  constructor(
    readonly now: () => number = Date.now,
    readonly seconds = 300,
    readonly samplesPerSecond = 256,
  ) {}

  /** A completion route finished with `status` after `ms`. */
  request(status: number, ms: number): void {
    const bucket = this.#bucket();
    if (status >= 500) bucket.serverErrors++;
    else if (status >= 400) bucket.clientErrors++;
    else bucket.ok++;
    if (bucket.latencies.length < this.samplesPerSecond) bucket.latencies.push(ms);
  }

  /** An answer finished with this many output tokens. */
  tokens(count: number): void {
    if (count > 0) this.#bucket().tokens += count;
  }

  /** The last `seconds` seconds, oldest first, empty seconds included. */
  recent(seconds = 120): TrafficSecond[] {
    const now = Math.floor(this.now() / 1000);
    const out: TrafficSecond[] = [];
    for (let at = now - seconds + 1; at <= now; at++) {
      const bucket = this.#buckets.find((b) => b.at === at);
      if (!bucket) {
        out.push({ at, ok: 0, clientErrors: 0, serverErrors: 0, tokens: 0 });
        continue;
      }
      const sorted = [...bucket.latencies].sort((a, b) => a - b);
      const pick = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
      out.push({ at, ok: bucket.ok, clientErrors: bucket.clientErrors, serverErrors: bucket.serverErrors, tokens: bucket.tokens, ...(sorted.length > 0 ? { p50: pick(0.5)!, p95: pick(0.95)! } : {}) });
    }
    return out;
  }

  #bucket() {
    const at = Math.floor(this.now() / 1000);
    let bucket = this.#buckets.at(-1);
    if (bucket?.at !== at) {
      bucket = { at, ok: 0, clientErrors: 0, serverErrors: 0, latencies: [], tokens: 0 };
      this.#buckets.push(bucket);
      while (this.#buckets.length > 0 && this.#buckets[0]!.at <= at - this.seconds) this.#buckets.shift();
    }
    return bucket;
  }
}
