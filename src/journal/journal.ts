import { PoisonList, type LossVerdict } from './poison.js';
import { AloneGate } from './alone-gate.js';
import { SerialLane } from './serial-lane.js';

/** One request sent to the model server, as the journal keeps it. */
export interface RequestInfo {
  id: string;
  /** Its body's digest (`PoisonList.digest`): the same content is the same request. Read only when its server is lost (it may be a getter that hashes then). */
  readonly digest: string;
  bodyBytes: number;
}

/** One attempt of a request at the model server, while it runs. */
export interface JournalEntry {
  /** Headers, a keepalive or a token arrived: the server is alive. */
  progress(): void;
  end(): void;
  /** Once the server it went to was lost: what that loss makes of the request (undefined before). */
  readonly verdict: LossVerdict | undefined;
}

/**
 * What mlx-guard knows of its requests to the model server, in one place: the attempts in flight
 * and the last progress any made (the supervisor's proof of life), what each loss of the server
 * makes of them (innocent, suspect, poison: `PoisonList`), and the lane suspects are replayed in
 * one at a time. The supervisor reports a loss (`lost`) before it tells the requests; each
 * attempt then reads its verdict from its entry, so no side depends on the other's timing.
 */
export class Journal {
  readonly poison: PoisonList;
  /** Suspects are replayed one at a time, so that a second crash names one request. */
  readonly replayLane = new SerialLane();
  /** Held by every suspect from the moment it queues for the lane until it has run: other attempts wait (bounded). */
  readonly alone = new AloneGate();
  readonly #inFlight = new Set<{ info: RequestInfo; verdict: LossVerdict | undefined }>();
  #lastProgressAt = 0;
  #busySince = 0;

  constructor(
    options: { ttlMs: number; maxEntries: number },
    readonly now: () => number = Date.now,
  ) {
    this.poison = new PoisonList(options, now);
  }

  /** An attempt is sent. */
  begin(info: RequestInfo): JournalEntry {
    const entry: { info: RequestInfo; verdict: LossVerdict | undefined } = { info, verdict: undefined };
    if (this.#inFlight.size === 0) this.#busySince = this.now();
    this.#inFlight.add(entry);
    return {
      progress: () => {
        this.#lastProgressAt = this.now();
      },
      end: () => {
        this.#inFlight.delete(entry);
      },
      get verdict() {
        return entry.verdict;
      },
    };
  }

  /** Attempts in flight now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** When an attempt last made progress (0: never). */
  get lastProgressAt(): number {
    return this.#lastProgressAt;
  }

  /** When the first of the attempts now in flight began: no progress is expected before it. */
  get busySince(): number {
    return this.#busySince;
  }

  /**
   * The model server was lost to `cause`: each attempt in flight gets its verdict now. Says which
   * requests were in flight, and whether one of them is now known poison (its restart then spends
   * no restart budget: the request will not be sent again).
   */
  lost(cause: string): { inFlight: RequestInfo[]; poisonCaused: boolean } {
    const loss = {};
    let poisonCaused = false;
    // Alone: one content in flight (a client's duplicate of itself is still one request).
    const alone = new Set([...this.#inFlight].map((entry) => entry.info.digest)).size === 1;
    for (const entry of this.#inFlight) {
      entry.verdict = this.poison.noteLoss(entry.info.digest, cause, entry.info.bodyBytes, loss, alone);
      if (entry.verdict === 'poison') poisonCaused = true;
    }
    return { inFlight: [...this.#inFlight].map((entry) => entry.info), poisonCaused };
  }
}
