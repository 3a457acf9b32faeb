import type { ParseSession, ParserRegistry } from './registry.js';
import { TextWindow, type Segmenter } from './segmenter.js';
import type { ParseOptions, ParseResult, ToolCall } from './types.js';

export interface StreamDelta {
  /** Visible text to send now. */
  content: string;
  /** Calls completed by this chunk, each sent once and whole. */
  calls: ToolCall[];
}

// The whitespace String.prototype.trim removes (the whole-text parser trims), not only ASCII: a
// model may emit U+1680 or U+3000, and streaming must release exactly what the whole parse keeps.
const TRIMMED = /\s/;
const isSpace = (c: string | undefined) => c !== undefined && TRIMMED.test(c);

/**
 * One response's incremental parser. Text is released as soon as it cannot turn out to be markup:
 * a suffix that could start a marker, an open block, trailing whitespace and (when bare output may
 * hold calls) a message that opens with JSON or a code fence that may end it are held back until
 * decided. The same segmenter and block readers as `parseWithFallback` decide, so at the end the
 * released content and calls are exactly that function's result on the whole text. A chunk costs
 * time in its own length plus the undecided tail (an open block or reasoning), never the decided
 * text before it.
 */
export class StreamingToolCallParser {
  readonly #registry: ParserRegistry;
  readonly #segmenter: Segmenter;
  readonly #options: ParseOptions;
  readonly #session: ParseSession;
  /** The whole text, only read at the end (appending to it never copies it). */
  #text = '';
  /** The undecided tail the segmenter reads: decided text is dropped, so chunks do not copy the whole. */
  #window = new TextWindow('');
  /** Segments fully read; the last text segment is read up to `#textReadTo` as it grows. */
  #decided = 0;
  #textReadTo = -1;
  /**
   * Content decided so far, addressed by absolute position (it only grows at its end): what was
   * released is kept as a rope for the final check; the rest waits in `#pending`, from `#pendingBase`.
   */
  #contentLength = 0;
  #pending = '';
  #pendingBase = 0;
  #releasedText = '';
  #firstVisible = -1;
  #firstVisibleChar = '';
  #lastVisibleEnd = 0;
  /** Fences in the content: where an open one starts, and where the last closed one started and ended. */
  /** The last two characters of the content: a fence may straddle two pieces. */
  #contentTail = '';
  /** Fence characters before this index are already counted. */
  #fenceFloor = 0;
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
    this.#window.append(chunk);
    this.#segmenter.advance(this.#window, false);
    const calls = this.#read();
    const cursor = this.#segmenter.cursor;
    if (cursor > this.#window.base) this.#window = this.#window.from(cursor);
    return { content: this.#release(this.#releasable()), calls };
  }

  /** The last delta and the whole result: `parseWithFallback` on the whole text, with the ids already sent. */
  end(): StreamDelta & { result: ParseResult } {
    if (this.#ended) throw new Error('end() called twice');
    this.#ended = true;
    const result = this.#registry.parseWithFallback(this.#text, this.#options);
    const sent = this.#calls.length;
    const calls = result.calls.map((call, i) => (i < sent ? { ...call, id: this.#calls[i]!.id } : call));
    const released = this.#releasedText;
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
        this.#append(this.#window.slice(from, segment.end));
        this.#textReadTo = segment.end;
      } else {
        const outcome = this.#session.segment(this.#window, segment);
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
    const base = this.#contentLength;
    this.#contentLength += piece.length;
    this.#pending += piece;
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
          this.#firstVisibleChar = piece[i]!;
          break;
        }
      }
    }
    this.#scanFences(piece);
  }

  /** Finds fences in the newly appended piece only (searching the whole content would copy it each chunk). */
  #scanFences(piece: string): void {
    const region = this.#contentTail + piece;
    const offset = this.#contentLength - region.length;
    for (let at = region.indexOf('```'); at >= 0; at = region.indexOf('```', at + 3)) {
      if (offset + at < this.#fenceFloor) continue;
      if (this.#openFenceStart < 0) {
        this.#openFenceStart = offset + at;
        this.#openFence = this.#visibleEndBefore(offset + at);
      } else {
        this.#lastFence = [this.#openFence, offset + at + 3];
        this.#openFence = this.#openFenceStart = -1;
      }
      this.#fenceFloor = offset + at + 3;
    }
    this.#contentTail = region.slice(-2);
  }

  /** The end of the visible text before `index` (whitespace before a fence is not released ahead of it). */
  #visibleEndBefore(index: number): number {
    // Released text never ends in whitespace, so this walk stays inside the pending part.
    let i = index;
    while (i > this.#pendingBase && isSpace(this.#pending[i - 1 - this.#pendingBase])) i--;
    return i;
  }

  /** How far the content may be released: not trailing whitespace, nor what bare output may claim. */
  #releasable(): number {
    if (this.#firstVisible < 0) return -1;
    let end = this.#lastVisibleEnd;
    if (this.#session.bareReadingsPossible) {
      if (this.#firstVisibleChar === '{' || this.#firstVisibleChar === '[') return -1;
      if (this.#openFenceStart >= 0) end = Math.min(end, this.#openFence);
      else if (this.#lastFence && this.#lastVisibleEnd <= this.#lastFence[1]) end = Math.min(end, this.#lastFence[0]);
    }
    return end;
  }

  #release(upTo: number): string {
    const from = Math.max(this.#releasedTo, this.#firstVisible);
    if (upTo <= from || from < 0) return '';
    const delta = this.#pending.slice(from - this.#pendingBase, upTo - this.#pendingBase);
    this.#pending = this.#pending.slice(upTo - this.#pendingBase);
    this.#pendingBase = upTo;
    this.#releasedTo = upTo;
    this.#releasedText += delta;
    return delta;
  }
}
