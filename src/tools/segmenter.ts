/**
 * Splits model output into text, reasoning and tool-call blocks, left to right, in one pass.
 *
 * It is incremental: `advance(text, false)` decides as much as the text so far allows and stops
 * before anything undecided (a marker cut off at the end, a block whose end has not arrived);
 * `advance(text, true)` decides the rest. Because decisions never depend on text to their right
 * beyond what they waited for, streaming and whole-text parsing produce the same segments.
 *
 * Markers inside Markdown code (inline spans, fenced blocks) are text: a mention, not a call.
 */

/** Where a block of tool-call markup starts and how its end is found. */
export interface BlockSpec {
  open: string;
  /** Any of these ends the block (included in it). */
  close?: readonly string[];
  /** For a block without an end marker: the index just past it, or -1 while it is incomplete. */
  end?(text: string, payloadStart: number): number;
}

interface ReasoningSpec {
  open: string;
  close: string;
}

export type Segment =
  | { kind: 'text'; start: number; end: number }
  | { kind: 'reasoning'; start: number; end: number; inner: [number, number] }
  | { kind: 'block'; spec: BlockSpec; start: number; end: number; payload: [number, number]; complete: boolean };

/**
 * The text the segmenter reads, addressed by absolute position: the whole text, or (when
 * streaming) only its undecided tail. Streamed chunks are kept as a list and joined only where a
 * read needs them, so a long open block (one huge tool argument) is not copied chunk after chunk:
 * searches resume near the end, and the list is merged into one string only when it has grown
 * as long as the merged part (amortised linear).
 */
export class TextWindow {
  #flat: string;
  #chunks: string[] = [];
  #chunkStarts: number[] = [];
  #length: number;

  constructor(
    text: string,
    readonly base = 0,
  ) {
    this.#flat = text;
    this.#length = base + text.length;
  }

  get length(): number {
    return this.#length;
  }

  /** The whole window as one string (merges pending chunks). */
  get text(): string {
    this.#merge();
    return this.#flat;
  }

  append(chunk: string): void {
    this.#chunkStarts.push(this.#length);
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    if (this.#length - this.base - this.#flat.length > Math.max(this.#flat.length, 65_536)) this.#merge();
  }

  /** A new window of [from, end), for dropping what has been decided. */
  from(from: number): TextWindow {
    const { text, offset } = this.#region(from);
    return new TextWindow(text.slice(from - offset), from);
  }

  indexOf(needle: string, from: number): number {
    const start = Math.max(from, this.base);
    const { text, offset } = this.#region(start);
    const at = text.indexOf(needle, start - offset);
    return at < 0 ? -1 : at + offset;
  }

  startsWith(prefix: string, at: number): boolean {
    return this.slice(at, at + prefix.length) === prefix;
  }

  charCodeAt(at: number): number {
    const chunk = this.#chunkAt(at);
    return chunk < 0 ? this.#flat.charCodeAt(at - this.base) : this.#chunks[chunk]!.charCodeAt(at - this.#chunkStarts[chunk]!);
  }

  slice(start: number, end?: number): string {
    const { text, offset } = this.#region(start, end ?? this.#length);
    return text.slice(start - offset, end === undefined ? undefined : end - offset);
  }

  /** The chunk holding `at` (binary search: reads at an old position must not walk every chunk), or -1 for the merged part. */
  #chunkAt(at: number): number {
    let low = 0;
    let high = this.#chunkStarts.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (this.#chunkStarts[middle]! <= at) {
        found = middle;
        low = middle + 1;
      } else high = middle - 1;
    }
    return found;
  }

  /**
   * A string covering [at, end) and its absolute offset: the merged part alone, recent chunks
   * joined (only those before `end`: a read near an open block's start must not copy the block),
   * or everything merged.
   */
  #region(at: number, end = this.#length): { text: string; offset: number } {
    const chunk = this.#chunkAt(at);
    const flatEnd = this.base + this.#flat.length;
    if (chunk < 0) {
      if (end <= flatEnd) return { text: this.#flat, offset: this.base };
      // A search that resumes just before the newest chunks (the overlap a marker may straddle)
      // copies only that overlap: merging there would copy the whole window on every chunk.
      if (this.#chunks.length > 0 && flatEnd - at <= 4_096) return { text: this.#flat.slice(at - this.base) + this.#joinChunks(0, end), offset: at };
      this.#merge();
      return { text: this.#flat, offset: this.base };
    }
    return { text: this.#joinChunks(chunk, end), offset: this.#chunkStarts[chunk]! };
  }

  /** The chunks from index `first` that start before `end`, joined. */
  #joinChunks(first: number, end: number): string {
    let last = first;
    while (last + 1 < this.#chunks.length && this.#chunkStarts[last + 1]! < end) last++;
    return last === first ? this.#chunks[first]! : this.#chunks.slice(first, last + 1).join('');
  }

  #merge(): void {
    if (this.#chunks.length === 0) return;
    this.#flat += this.#chunks.join('');
    this.#chunks = [];
    this.#chunkStarts = [];
  }
}

export const REASONING: readonly ReasoningSpec[] = [
  { open: '<think>', close: '</think>' },
  { open: '[THINK]', close: '[/THINK]' },
];

type MarkerKind = { kind: 'block'; spec: BlockSpec } | { kind: 'reasoning'; spec: ReasoningSpec } | { kind: 'code' };

export class Segmenter {
  readonly segments: Segment[] = [];
  /** Everything before this index is decided. */
  cursor = 0;

  /** Where the undecided text starts: the cursor, or the opening of reasoning still open before it. */
  get undecidedFrom(): number {
    return this.#reasoning?.start ?? this.cursor;
  }
  readonly #markers: readonly string[];
  readonly #kinds = new Map<string, MarkerKind>();
  /** First characters of the markers, and the longest marker: what a cut-off marker can look like. */
  readonly #startCodes: ReadonlySet<number>;
  readonly #longestMarker: number;
  /** Set while inside reasoning: where it began, and which closer ends it. */
  #reasoning: { start: number; innerStart: number; close: string; forced: boolean } | undefined;
  /**
   * Per marker, its next occurrence at or after the cursor, or -1 with how far the text was
   * searched: a stream that grows a character at a time is searched once, not once per chunk.
   */
  #nextAt: Float64Array;
  #foundAt = -1;
  #nextNewline = -1;
  #newlineSearchedTo = 0;
  #searchedTo: Float64Array;
  /**
   * While the cursor waits on an undecided construct (an open block, fence or reasoning), how far
   * each closing search got, so the next chunk resumes there instead of rescanning.
   */
  #waiting: { cursor: number; searchedTo: Map<string, number> } = { cursor: -1, searchedTo: new Map() };

  constructor(blocks: readonly BlockSpec[], startsInReasoning: boolean) {
    for (const spec of blocks) if (!this.#kinds.has(spec.open)) this.#kinds.set(spec.open, { kind: 'block', spec });
    for (const spec of REASONING) this.#kinds.set(spec.open, { kind: 'reasoning', spec });
    this.#kinds.set('`', { kind: 'code' });
    this.#markers = [...this.#kinds.keys()];
    this.#startCodes = new Set(this.#markers.map((m) => m.charCodeAt(0)));
    this.#longestMarker = Math.max(...this.#markers.map((m) => m.length));
    this.#nextAt = new Float64Array(this.#markers.length).fill(-1);
    this.#searchedTo = new Float64Array(this.#markers.length).fill(-1);
    if (startsInReasoning) this.#reasoning = { start: 0, innerStart: 0, close: '</think>', forced: true };
  }

  advance(text: TextWindow, final: boolean): void {
    for (;;) {
      if (this.#reasoning) {
        if (!this.#advanceReasoning(text, final)) return;
        continue;
      }
      const found = this.#earliest(text);
      if (found === undefined) {
        const safe = final ? text.length : text.length - this.#partialMarkerSuffix(text);
        this.#text(safe);
        return;
      }
      const at = this.#foundAt;
      if (!final && this.#longerMarkerMayStart(text, at)) {
        this.#text(at);
        return;
      }
      this.#text(at);
      if (found.kind === 'code') {
        if (!this.#advanceCode(text, final)) return;
      } else if (found.kind === 'reasoning') {
        this.#reasoning = { start: at, innerStart: at + found.spec.open.length, close: found.spec.close, forced: false };
        this.cursor = at + found.spec.open.length;
      } else if (!this.#advanceBlock(text, found.spec, final)) {
        return;
      }
    }
  }

  /** `text.indexOf(needle, from)`, resuming where an earlier failed search for it at this cursor stopped. */
  #find(text: TextWindow, needle: string, from: number): number {
    const searched = this.#waiting.cursor === this.cursor ? this.#waiting.searchedTo.get(needle) : undefined;
    const at = text.indexOf(needle, searched === undefined ? from : Math.max(from, searched - needle.length + 1));
    if (at < 0) {
      if (this.#waiting.cursor !== this.cursor) this.#waiting = { cursor: this.cursor, searchedTo: new Map() };
      this.#waiting.searchedTo.set(needle, text.length);
    }
    return at;
  }

  /** The next newline at or after `from` (cached: positions only move forward). */
  #newlineFrom(text: TextWindow, from: number): number {
    if (this.#nextNewline < from && !(this.#nextNewline === -1 && this.#newlineSearchedTo >= text.length)) {
      this.#nextNewline = text.indexOf('\n', Math.max(from, this.#newlineSearchedTo));
      this.#newlineSearchedTo = text.length;
    }
    return this.#nextNewline >= from ? this.#nextNewline : -1;
  }

  /** Whether text arrived since the last check at this cursor contains one of `chars` (a JSON value can only end on one). */
  #arrived(text: TextWindow, chars: string): boolean {
    if (this.#waiting.cursor !== this.cursor) this.#waiting = { cursor: this.cursor, searchedTo: new Map() };
    const since = this.#waiting.searchedTo.get('\u0000end') ?? -1;
    this.#waiting.searchedTo.set('\u0000end', text.length);
    if (since < 0) return true;
    for (let i = since; i < text.length; i++) if (chars.includes(String.fromCharCode(text.charCodeAt(i)))) return true;
    return false;
  }

  #text(end: number): void {
    if (end <= this.cursor) return;
    const last = this.segments.at(-1);
    if (last?.kind === 'text' && last.end === this.cursor) last.end = end;
    else this.segments.push({ kind: 'text', start: this.cursor, end });
    this.cursor = end;
  }

  #advanceReasoning(text: TextWindow, final: boolean): boolean {
    const reasoning = this.#reasoning!;
    const close = this.#find(text, reasoning.close, reasoning.innerStart);
    if (close >= 0) {
      this.segments.push({ kind: 'reasoning', start: reasoning.start, end: close + reasoning.close.length, inner: [reasoning.innerStart, close] });
      this.cursor = close + reasoning.close.length;
      this.#reasoning = undefined;
      return true;
    }
    if (!final) return false;
    this.#reasoning = undefined;
    if (reasoning.forced) {
      // The prompt opened reasoning that never closed: the model answered without it, so the
      // text is content and its calls count (llama.cpp's reading of the same case).
      this.cursor = reasoning.start;
      this.#nextAt.fill(-1);
      this.#searchedTo.fill(-1);
    } else {
      this.segments.push({ kind: 'reasoning', start: reasoning.start, end: text.length, inner: [reasoning.innerStart, text.length] });
      this.cursor = text.length;
    }
    return true;
  }

  /** A backtick at the cursor: fenced block or inline span, both plain text. */
  #advanceCode(text: TextWindow, final: boolean): boolean {
    const at = this.cursor;
    if (text.startsWith('```', at)) {
      const close = this.#find(text, '```', at + 3);
      if (close >= 0) {
        this.#text(close + 3);
        return true;
      }
    } else if (text.length - at >= 3 || final) {
      const close = this.#find(text, '`', at + 1);
      const newline = this.#newlineFrom(text, at + 1);
      if (close >= 0 && (newline < 0 || close < newline)) {
        this.#text(close + 1);
        return true;
      }
      if (newline >= 0 || final) {
        // A lone backtick: not a span. It is text, and scanning goes on after it.
        this.#text(at + 1);
        return true;
      }
    }
    if (final) {
      this.#text(text.length);
      return true;
    }
    return false;
  }

  #advanceBlock(text: TextWindow, spec: BlockSpec, final: boolean): boolean {
    const start = this.cursor;
    const payloadStart = start + spec.open.length;
    let payloadEnd = -1;
    let end = -1;
    if (spec.close) {
      for (const close of spec.close) {
        const at = this.#find(text, close, payloadStart);
        if (at >= 0 && (payloadEnd < 0 || at < payloadEnd)) {
          payloadEnd = at;
          end = at + close.length;
        }
      }
    } else if (spec.end && (final || this.#arrived(text, '}]'))) {
      const relative = spec.end(text.text, payloadStart - text.base);
      end = relative < 0 ? -1 : relative + text.base;
      payloadEnd = end;
    }
    if (end < 0) {
      if (!final) return false;
      this.segments.push({ kind: 'block', spec, start, end: text.length, payload: [payloadStart, text.length], complete: false });
      this.cursor = text.length;
      return true;
    }
    this.segments.push({ kind: 'block', spec, start, end, payload: [payloadStart, payloadEnd], complete: true });
    this.cursor = end;
    return true;
  }

  /** The kind of the earliest marker at or after the cursor; its position is left in `#foundAt`. */
  #earliest(text: TextWindow): MarkerKind | undefined {
    let best = -1;
    let bestAt = Infinity;
    const markers = this.#markers;
    for (let i = 0; i < markers.length; i++) {
      const marker = markers[i]!;
      let at = this.#nextAt[i]!;
      const stale = at >= 0 ? at < this.cursor : this.#searchedTo[i]! < text.length;
      if (stale) {
        const searched = this.#searchedTo[i]!;
        const from = at < 0 && searched >= 0 ? Math.max(this.cursor, searched - marker.length + 1) : this.cursor;
        at = text.indexOf(marker, from);
        this.#nextAt[i] = at;
        this.#searchedTo[i] = text.length;
      }
      if (at < 0 || at > bestAt || (at === bestAt && marker.length <= markers[best]!.length)) continue;
      best = i;
      bestAt = at;
    }
    if (best < 0) return undefined;
    this.#foundAt = bestAt;
    return this.#kinds.get(markers[best]!);
  }

  /** Length of the longest suffix of the undecided text that is a proper prefix of some marker. */
  #partialMarkerSuffix(text: TextWindow): number {
    for (let at = Math.max(this.cursor, text.length - this.#longestMarker + 1); at < text.length; at++) {
      if (!this.#startCodes.has(text.charCodeAt(at))) continue;
      const tail = text.slice(at);
      if (this.#markers.some((m) => m.length > tail.length && m.startsWith(tail))) return text.length - at;
    }
    return 0;
  }

  /** A longer marker could still start where a shorter one was found, and the text ends inside it. */
  #longerMarkerMayStart(text: TextWindow, at: number): boolean {
    const rest = text.length - at;
    if (rest >= this.#longestMarker) return false;
    const tail = text.slice(at);
    return this.#markers.some((m) => m.length > rest && m.startsWith(tail));
  }
}

