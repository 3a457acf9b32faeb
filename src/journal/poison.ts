import { createHash } from 'node:crypto';

/** Restart causes a request can be blamed for: it was in flight when the server died this way. */
const ATTRIBUTABLE = new Set(['metal_abort', 'crash', 'zombie', 'frozen', 'wedged']);

/** What a loss of the model server makes of a request in flight. */
export type LossVerdict = 'innocent' | 'suspect' | 'poison';

/** Why a request is on the list. */
export type PoisonKind = 'crashes' | 'fails';

export interface PoisonEntry {
  digest: string;
  kind: PoisonKind;
  /** The restart cause it was in flight at twice, or the failure it met while others were served. */
  cause: string;
  at: number;
  until: number;
  bodyBytes: number;
}

/** How long poison is refused, and how many requests the list remembers (suspects and poison each). */
export const POISON_DEFAULTS = { ttlMs: 600_000, maxEntries: 1_000 } as const;

/** Twice is a pattern; once may be chance. */
const TIMES_TO_POISON = 2;

/**
 * Requests that kill the model server or fail on their own, by a digest of the body sent
 * upstream. A request in flight at two restarts of the same cause is poison, but only when it was
 * alone at the second one: a request that shared the server with others when it died may be
 * their victim (an attacker's request crashing the server during a victim's replay must not get
 * the victim refused), so it stays a suspect, to be replayed alone. One that failed twice while
 * the server served others is poison too. Poison is refused at once for `ttlMs`. Both maps are
 * bounded: the oldest entry goes first.
 */
export class PoisonList {
  readonly #suspects = new Map<string, Map<string, number>>();
  readonly #poison = new Map<string, PoisonEntry>();
  /** What each loss already counted, by digest; gone with the loss. */
  readonly #countedAt = new WeakMap<object, Map<string, 'suspect' | 'poison'>>();

  constructor(
    readonly options: { ttlMs: number; maxEntries: number },
    readonly now: () => number = Date.now,
  ) {}

  static digest(body: string): string {
    return createHash('sha256').update(body).digest('hex').slice(0, 32);
  }

  /** Whether any request is refused as poison (expired entries may count until they are next looked up). */
  get holdsAny(): boolean {
    return this.#poison.size > 0;
  }

  /** The entry, while it lasts. */
  find(digest: string): PoisonEntry | undefined {
    const entry = this.#poison.get(digest);
    if (entry && entry.until <= this.now()) {
      this.#poison.delete(digest);
      return undefined;
    }
    return entry;
  }

  /**
   * A request was in flight when the server was lost to `cause`: poison on its second time for
   * the same cause when it was `alone` in flight (then it is not replayed), else a suspect to
   * replay. Causes nobody can be blamed for (a manual restart, a stop) return 'innocent'.
   */
  noteLoss(digest: string, cause: string, bodyBytes: number, loss: object, alone: boolean): LossVerdict {
    if (!ATTRIBUTABLE.has(cause)) return 'innocent';
    // The same content twice in flight at one loss (a client's duplicate, or its streamed and
    // whole forms, which go upstream alike) is one request at one loss.
    const counted = this.#countedAt.get(loss) ?? new Map<string, 'suspect' | 'poison'>();
    this.#countedAt.set(loss, counted);
    const verdict = counted.get(digest) ?? this.#count(digest, 'crashes', cause, bodyBytes, alone);
    counted.set(digest, verdict);
    return verdict;
  }

  /**
   * A request failed on its own (its connection dropped, a 500) while the server served others:
   * poison the second time the same request does (a transient failure is not content's fault).
   */
  noteFailure(digest: string, cause: string, bodyBytes: number): 'suspect' | 'poison' {
    return this.#count(digest, 'fails', cause, bodyBytes, true);
  }

  #count(digest: string, kind: PoisonKind, cause: string, bodyBytes: number, mayConvict: boolean): 'suspect' | 'poison' {
    const key = `${kind}:${cause}`;
    const counts = this.#suspects.get(digest) ?? new Map<string, number>();
    const seen = (counts.get(key) ?? 0) + 1;
    counts.set(key, seen);
    this.#remember(this.#suspects, digest, counts);
    if (seen < TIMES_TO_POISON || !mayConvict) return 'suspect';
    this.#suspects.delete(digest);
    const at = this.now();
    this.#remember(this.#poison, digest, { digest, kind, cause, bodyBytes, at, until: at + this.options.ttlMs });
    return 'poison';
  }

  get entries(): PoisonEntry[] {
    return [...this.#poison.values()].filter((entry) => entry.until > this.now());
  }

  #remember<T>(map: Map<string, T>, key: string, value: T): void {
    map.delete(key);
    map.set(key, value);
    if (map.size > this.options.maxEntries) map.delete(map.keys().next().value!);
  }
}

/** What a client is told when its request is poison: what happened, and what to change. */
export function describePoison(entry: PoisonEntry): string {
  const minutes = Math.max(1, Math.round((entry.until - entry.at) / 60_000));
  const what =
    entry.kind === 'fails'
      ? `this request failed on its own (${entry.cause}) while the model server served others`
      : entry.cause === 'metal_abort'
        ? 'this request was being served when the model server ran out of GPU memory twice'
        : `this request was being served both times the model server was lost (${entry.cause})`;
  const fix = entry.kind === 'fails' ? 'check its parameters and content' : 'shorten the context or lower max_tokens';
  return `${what}; mlx-guard will not send it again for ${minutes} min. To get an answer, ${fix} and send the changed request.`;
}
