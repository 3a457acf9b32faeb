import type { IncomingMessage, ServerResponse } from 'node:http';

/** A request asks for its timeline with this header; the answer carries it as `Server-Timing`. */
export const TIMING_REQUEST_HEADER = 'x-mlx-guard-timing';

/** A point in time every thread reads alike (each thread's `performance.now()` has its own origin). */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/** Marks taken in another thread (the inference worker), as [phase, epochMs]. */
export type Marks = Array<[string, number]>;

/** Marks `phase` now unless it was marked already; says whether it did. */
export function markOnce(marks: Marks, phase: string): boolean {
  if (marks.some(([marked]) => marked === phase)) return false;
  marks.push([phase, epochMs()]);
  return true;
}

/**
 * One request's path through mlx-guard, phase by phase, for a client that asks for it (the bench
 * does): each phase is the time from the request's arrival to that point, in the order reached,
 * both threads on one clock. Kept only for requests that ask, so it costs the others nothing.
 */
export class Timeline {
  readonly #arrivedAt: number;
  readonly #marks: Marks = [];

  constructor(arrivedAt: number) {
    this.#arrivedAt = arrivedAt;
  }

  mark(phase: string): void {
    this.#marks.push([phase, epochMs()]);
  }

  absorb(marks: Marks | undefined): void {
    if (marks) this.#marks.push(...marks);
  }

  /** The `Server-Timing` value: `phase;dur=<ms since arrival>`, in the order reached. */
  serverTiming(): string {
    return [...this.#marks]
      .sort((a, b) => a[1] - b[1])
      .map(([phase, at]) => `${phase};dur=${(at - this.#arrivedAt).toFixed(3)}`)
      .join(', ');
  }
}

const timelines = new WeakMap<ServerResponse, Timeline>();

/** The request's timeline when it asked for one (its arrival: `arrivedAt`, an `epochMs()`). */
export function startTimeline(req: IncomingMessage, res: ServerResponse, arrivedAt: number): Timeline | undefined {
  if (req.headers[TIMING_REQUEST_HEADER] === undefined) return undefined;
  const timeline = new Timeline(arrivedAt);
  timelines.set(res, timeline);
  return timeline;
}

export const timelineOf = (res: ServerResponse): Timeline | undefined => timelines.get(res);
