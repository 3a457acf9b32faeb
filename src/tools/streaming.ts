import type { ParseSession } from './session.js';
import { TextWindow, type Segmenter } from './segmenter.js';
import { TrailingJsonScanner } from './trailing-json.js';
import type { ParseResult, ToolCall } from './types.js';

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
 * hold calls) a message that opens with JSON, a code fence that may end it, or JSON after prose
 * that may end it (see `TrailingJsonScanner`) are held back until decided. The same segmenter and
 * block readers as `parseWithFallback` decide, so at the end the released content and calls are
 * exactly that function's result on the whole text. A chunk costs
 * time in its own length plus the undecided tail (an open block or reasoning), never the decided
 * text before it.
 */
export class StreamingToolCallParser {
  readonly #segmenter: Segmenter;
  readonly #session: ParseSession;
  /** The whole-text parse, for the final reconciliation at `end()`. */
  readonly #parseWhole: (text: string) => ParseResult;
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
  /** JSON in the content that may turn out to be calls ending the message (declared tools only). */
  readonly #trailing: TrailingJsonScanner | undefined;
  readonly #calls: ToolCall[] = [];
  /**
   * The pieces of content not yet wholly released, each with where it came from in the raw text:
   * `exact` pieces are that raw text itself, others were derived from a block (a message inside
   * markup) and map only to the block's start.
   */
  #unreleased: Array<{ contentEnd: number; contentStart: number; rawStart: number; exact: boolean }> = [];
  /** The first of `#unreleased` still not wholly released (a head index: shifting would copy the array). */
  #unreleasedHead = 0;
  #ended = false;

  constructor(session: ParseSession, segmenter: Segmenter, parseWhole: (text: string) => ParseResult) {
    this.#session = session;
    this.#trailing = session.trailingCallsPossible ? new TrailingJsonScanner() : undefined;
    this.#segmenter = segmenter;
    this.#parseWhole = parseWhole;
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
    const result = this.#parseWhole(this.#text);
    const sent = this.#calls.length;
    const calls = result.calls.map((call, i) => (i < sent ? { ...call, id: this.#calls[i]!.id } : call));
    const released = this.#releasedText;
    const content = result.content.startsWith(released) ? result.content.slice(released.length) : '';
    return { content, calls: calls.slice(sent), result: { ...result, calls } };
  }

  /**
   * Where in the raw text to go on if parsing stops now and the rest passes through as text: all
   * before it was released, sent as calls, or was reasoning or markup of calls sent. Only a
   * derived piece cut in the middle (rare) is sent again from its block's start: repeated, never lost.
   */
  get resumeAt(): number {
    const first = this.#unreleased[this.#unreleasedHead];
    if (!first) return this.#segmenter.undecidedFrom;
    return first.exact ? first.rawStart + Math.max(0, this.#releasedTo - first.contentStart) : first.rawStart;
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
        this.#append(this.#window.slice(from, segment.end), from, true);
        this.#textReadTo = segment.end;
      } else {
        const outcome = this.#session.segment(this.#window, segment);
        this.#append(outcome.content, segment.start, outcome.failed);
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

  #append(piece: string, rawStart: number, exact: boolean): void {
    const base = this.#contentLength;
    this.#contentLength += piece.length;
    if (piece !== '') this.#unreleased.push({ contentStart: base, contentEnd: this.#contentLength, rawStart, exact });
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
    this.#trailing?.push(piece);
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
      const trailingFrom = this.#trailing?.holdFrom ?? -1;
      if (trailingFrom >= 0) end = Math.min(end, this.#visibleEndBefore(trailingFrom));
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
    while (this.#unreleasedHead < this.#unreleased.length && this.#unreleased[this.#unreleasedHead]!.contentEnd <= upTo) this.#unreleasedHead++;
    if (this.#unreleasedHead === this.#unreleased.length) {
      this.#unreleased = [];
      this.#unreleasedHead = 0;
    }
    return delta;
  }
}
