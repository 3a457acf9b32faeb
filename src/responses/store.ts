import type { InputItem } from './request-schema.js';

/** One kept response: the object `GET /v1/responses/{id}` gives, and the conversation a `previous_response_id` continues. */
export interface StoredResponse {
  response: Record<string, unknown>;
  /** Every item up to and including this response's output, as input items. */
  conversation: InputItem[];
}

export interface ResponseStoreLimits {
  /** Responses kept at most (0: none). */
  maxEntries: number;
  /** Bytes (their JSON) the kept responses take at most, all together. */
  maxBytes: number;
  ttlMs: number;
}

/**
 * The responses this process keeps for `previous_response_id` and `GET`/`DELETE
 * /v1/responses/{id}`: bounded by count and by bytes, the least recently used dropped first, and
 * each forgotten after its time to live. Ids are 24 random bytes, so one client cannot reach
 * another's responses by guessing.
 */
export class ResponseStore {
  readonly #entries = new Map<string, { stored: StoredResponse; bytes: number; at: number }>();
  #bytes = 0;

  constructor(
    readonly limits: ResponseStoreLimits,
    readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.limits.maxEntries > 0;
  }

  get size(): number {
    return this.#entries.size;
  }

  put(id: string, stored: StoredResponse): void {
    if (!this.enabled) return;
    const bytes = Buffer.byteLength(JSON.stringify(stored));
    // One response bigger than the whole store is not kept (it would evict everything for nothing).
    if (bytes > this.limits.maxBytes) return;
    this.delete(id);
    this.#entries.set(id, { stored, bytes, at: this.now() });
    this.#bytes += bytes;
    for (const [oldest] of this.#entries) {
      if (this.#entries.size <= this.limits.maxEntries && this.#bytes <= this.limits.maxBytes) break;
      this.delete(oldest);
    }
  }

  /** The kept response, now the most recently used; undefined when unknown, dropped or expired. */
  get(id: string): StoredResponse | undefined {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    if (this.now() - entry.at > this.limits.ttlMs) {
      this.delete(id);
      return undefined;
    }
    this.#entries.delete(id);
    this.#entries.set(id, entry);
    return entry.stored;
  }

  delete(id: string): boolean {
    const entry = this.#entries.get(id);
    if (!entry) return false;
    this.#entries.delete(id);
    this.#bytes -= entry.bytes;
    return true;
  }
}
