import type { SseEvent } from '../upstream/index.js';

/**
 * Stop sequences applied by mlx-guard rather than by the model server: mlx_lm.server drops a
 * matched stop sequence from its output and reports a plain "stop", so neither which one matched
 * nor whether one did can be told from its answer (the Anthropic API must say both). Text is
 * released as soon as it cannot be the start of a stop sequence.
 */
export class StopSequenceFilter {
  readonly #sequences: string[];
  readonly #longest: number;
  #held = '';
  #matched: string | undefined;

  constructor(sequences: readonly string[]) {
    this.#sequences = sequences.filter((s) => s.length > 0);
    this.#longest = Math.max(0, ...this.#sequences.map((s) => s.length));
  }

  /** The sequence that stopped the text, once one did (everything after it is dropped). */
  get matched(): string | undefined {
    return this.#matched;
  }

  /** The text that may go out now. */
  push(text: string): string {
    if (this.#matched !== undefined || this.#longest === 0) return this.#matched === undefined ? text : '';
    const window = this.#held + text;
    let cut = -1;
    for (const sequence of this.#sequences) {
      const at = window.indexOf(sequence);
      if (at >= 0 && (cut < 0 || at < cut)) {
        cut = at;
        this.#matched = sequence;
      }
    }
    if (cut >= 0) {
      this.#held = '';
      return window.slice(0, cut);
    }
    const keep = this.#partialSuffix(window);
    this.#held = window.slice(window.length - keep);
    return window.slice(0, window.length - keep);
  }

  /** What was held back, once the text ended without a match. */
  flush(): string {
    const rest = this.#held;
    this.#held = '';
    return rest;
  }

  /** The longest end of `text` that is the start of a sequence. */
  #partialSuffix(text: string): number {
    for (let size = Math.min(this.#longest - 1, text.length); size > 0; size--) {
      const tail = text.slice(text.length - size);
      if (this.#sequences.some((s) => s.startsWith(tail))) return size;
    }
    return 0;
  }
}

/**
 * One upstream event through the filter: the text of its first choice cut or held back, and, on
 * a match, the choice finished with `finish_reason` "stop" and `stop_sequence` naming the match
 * (a field only mlx-guard's own translators read). `stopped` says the rest of the answer is to be dropped.
 */
export function filterEvent(event: SseEvent, kind: 'chat' | 'text', filter: StopSequenceFilter): { event: SseEvent; stopped: boolean } {
  if (event.type !== 'data') return { event, stopped: false };
  const chunk = JSON.parse(event.data) as { choices?: Array<Record<string, unknown>> };
  const choice = chunk.choices?.[0];
  if (!choice) return { event, stopped: false };
  const holder = (kind === 'chat' ? choice.delta : choice) as Record<string, unknown> | undefined;
  const field = kind === 'chat' ? 'content' : 'text';
  const finishing = choice.finish_reason !== null && choice.finish_reason !== undefined;
  if (!holder || (typeof holder[field] !== 'string' && !finishing)) return { event, stopped: false };
  let text = filter.push(typeof holder[field] === 'string' ? (holder[field] as string) : '');
  const stopped = filter.matched !== undefined;
  if (stopped) {
    choice.finish_reason = 'stop';
    choice.stop_sequence = filter.matched;
  } else if (finishing) text += filter.flush();
  holder[field] = text;
  return { event: { type: 'data', data: JSON.stringify(chunk) }, stopped };
}
