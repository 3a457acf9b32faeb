import type { ParseSession, ParserRegistry } from './registry.js';
import type { Segmenter } from './segmenter.js';
import type { ParseOptions, ParseResult, ToolCall } from './types.js';

export interface StreamDelta {
  /** Visible text to send now. */
  content: string;
  /** Calls completed by this chunk, each sent once and whole. */
  calls: ToolCall[];
}

const isSpace = (c: string | undefined) => c === ' ' || c === '\n' || c === '\r' || c === '\t';

/**
 * One response's incremental parser. Text is released as soon as it cannot turn out to be markup:
 * a suffix that could start a marker, an open block, trailing whitespace and (when bare output may
 * hold calls) a message that opens with JSON or a code fence that may end it are held back until
 * decided. The same segmenter and block readers as `parseWithFallback` decide, so at the end the
 * released content and calls are exactly that function's result on the whole text. Each chunk
 * costs time in its own length (amortised), not in the length of the text so far.
 */
export class StreamingToolCallParser {
  readonly #registry: ParserRegistry;
  readonly #segmenter: Segmenter;
  readonly #options: ParseOptions;
  readonly #session: ParseSession;
  #text = '';
  /** Segments fully read; the last text segment is read up to `#textReadTo` as it grows. */
  #decided = 0;
  #textReadTo = -1;
  /** Visible content decided so far (untrimmed); it only ever grows at its end. */
  #content = '';
  #firstVisible = -1;
  #lastVisibleEnd = 0;
  /** Fences in the content: where an open one starts, and where the last closed one started and ended. */
  #fenceScan = 0;
  /** An open fence: where the visible text before it ends (-1: none open). */
  #openFence = -1;
  #openFenceStart = -1;
  /** The last closed fence: where the visible text before it ends, and where the fence ends. */
  #lastFence: [visibleBefore: number, end: number] | undefined;
  #releasedTo = -1;
  readonly #calls: ToolCall[] = [];
  #ended = false;

  constructor(registry: ParserRegistry, segmenter: Segmenter, options: ParseOptions) {
    this.#registry = registry;
    this.#segmenter = segmenter;
    this.#options = options;
    this.#session = registry.session(options);
  }

  push(chunk: string): StreamDelta {
    if (this.#ended) throw new Error('push() after end(): the stream is over');
    this.#text += chunk;
    this.#segmenter.advance(this.#text, false);
    const calls = this.#read();
    return { content: this.#release(this.#releasable()), calls };
  }

  /** The last delta and the whole result: `parseWithFallback` on the whole text, with the ids already sent. */
  end(): StreamDelta & { result: ParseResult } {
    if (this.#ended) throw new Error('end() called twice');
    this.#ended = true;
    const result = this.#registry.parseWithFallback(this.#text, this.#options);
    const sent = this.#calls.length;
    const calls = result.calls.map((call, i) => (i < sent ? { ...call, id: this.#calls[i]!.id } : call));
    const released = this.#releasedTo < 0 ? '' : this.#content.slice(this.#firstVisible, this.#releasedTo);
    const content = result.content.startsWith(released) ? result.content.slice(released.length) : '';
    return { content, calls: calls.slice(sent), result: { ...result, calls } };
  }

  /** Reads what the segmenter decided since the last chunk; returns the calls completed. */
  #read(): ToolCall[] {
    const segments = this.#segmenter.segments;
    const calls: ToolCall[] = [];
    for (let i = this.#decided; i < segments.length; i++) {
      const segment = segments[i]!;
      if (segment.kind === 'text') {
        // Text segments grow at their end while they are the last one: read only the new part.
        const from = Math.max(segment.start, this.#textReadTo);
        this.#append(this.#text.slice(from, segment.end));
        this.#textReadTo = segment.end;
      } else {
        const outcome = this.#session.segment(this.#text, segment);
        this.#append(outcome.content);
        calls.push(...outcome.calls);
      }
      if (segment.kind !== 'text' || i < segments.length - 1) {
        this.#decided = i + 1;
        this.#textReadTo = -1;
      }
    }
    this.#calls.push(...calls);
    return calls;
  }

  #append(piece: string): void {
    const base = this.#content.length;
    this.#content += piece;
    for (let i = piece.length - 1; i >= 0; i--) {
      if (!isSpace(piece[i])) {
        this.#lastVisibleEnd = base + i + 1;
        break;
      }
    }
    if (this.#firstVisible < 0) {
      for (let i = 0; i < piece.length; i++) {
        if (!isSpace(piece[i])) {
          this.#firstVisible = base + i;
          break;
        }
      }
    }
    this.#scanFences();
  }

  #scanFences(): void {
    let at = this.#content.indexOf('```', this.#fenceScan);
    while (at >= 0) {
      if (this.#openFenceStart < 0) {
        this.#openFenceStart = at;
        this.#openFence = this.#visibleEndBefore(at);
      } else {
        this.#lastFence = [this.#openFence, at + 3];
        this.#openFence = this.#openFenceStart = -1;
      }
      this.#fenceScan = at + 3;
      at = this.#content.indexOf('```', at + 3);
    }
    this.#fenceScan = Math.max(this.#fenceScan, this.#content.length - 2);
  }

  /** The end of the visible text before `index` (whitespace before a fence is not released ahead of it). */
  #visibleEndBefore(index: number): number {
    let i = index;
    while (i > 0 && isSpace(this.#content[i - 1])) i--;
    return i;
  }

  /** How far the content may be released: not trailing whitespace, nor what bare output may claim. */
  #releasable(): number {
    if (this.#firstVisible < 0) return -1;
    let end = this.#lastVisibleEnd;
    if (this.#session.bareReadingsPossible) {
      const first = this.#content[this.#firstVisible];
      if (first === '{' || first === '[') return -1;
      if (this.#openFenceStart >= 0) end = Math.min(end, this.#openFence);
      else if (this.#lastFence && this.#lastVisibleEnd <= this.#lastFence[1]) end = Math.min(end, this.#lastFence[0]);
    }
    return end;
  }

  #release(upTo: number): string {
    const from = Math.max(this.#releasedTo, this.#firstVisible);
    if (upTo <= from || from < 0) return '';
    this.#releasedTo = upTo;
    return this.#content.slice(from, upTo);
  }
}
