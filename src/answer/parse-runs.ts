import { AnswerMerge } from './merge.js';
import type { AnswerEvent } from './stream.js';

/**
 * Consecutive chunks of a batch of events (what arrived together), parsed together: one request to
 * the parse worker for their content (with the end of the answer, when they hold it). Its result
 * rides on `carrier`, the last chunk with content or a finish (a usage chunk may follow); a run
 * with neither asks nothing of the parser (`carrier` -1).
 */
export interface ParseRun {
  /** The run's chunks are `events[from]` up to, not including, `events[to]`. */
  from: number;
  to: number;
  /** Index within the run, or -1. */
  carrier: number;
  text: string;
  end: boolean;
}

/**
 * The runs of a batch, in order. The inference worker (which sends their text to the parse worker)
 * and the main thread (which matches each reply to its run) cut a batch with this one function,
 * so that requests and replies pair up one for one.
 */
export function parseRuns(events: readonly AnswerEvent[]): ParseRun[] {
  const runs: ParseRun[] = [];
  for (let from = 0; from < events.length; ) {
    if (events[from]!.type !== 'chunk') {
      from++;
      continue;
    }
    let to = from;
    let carrier = -1;
    let text = '';
    let end = false;
    for (; to < events.length; to++) {
      const event = events[to]!;
      if (event.type !== 'chunk') break;
      const content = AnswerMerge.content(event.chunk);
      const finishes = AnswerMerge.finishes(event.chunk);
      if (content !== undefined) text += content;
      if (finishes) end = true;
      if (content !== undefined || finishes) carrier = to - from;
    }
    runs.push({ from, to, carrier, text, end });
    from = to;
  }
  return runs;
}
