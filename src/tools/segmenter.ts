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

export const REASONING: readonly ReasoningSpec[] = [
  { open: '<think>', close: '</think>' },
  { open: '[THINK]', close: '[/THINK]' },
];

type Found = { at: number; kind: 'block'; spec: BlockSpec } | { at: number; kind: 'reasoning'; spec: ReasoningSpec } | { at: number; kind: 'code' };

export class Segmenter {
  readonly segments: Segment[] = [];
  /** Everything before this index is decided. */
  cursor = 0;
  readonly #blocks: readonly BlockSpec[];
  readonly #markers: readonly string[];
  /** Set while inside reasoning: where it began, and which closer ends it. */
  #reasoning: { start: number; innerStart: number; close: string; forced: boolean } | undefined;
  /**
   * Per marker, its next occurrence at or after the cursor, or -1 with how far the text was
   * searched: a stream that grows a character at a time is searched once, not once per chunk.
   */
  readonly #next = new Map<string, { at: number; searchedTo: number }>();
  /**
   * While the cursor waits on an undecided construct (an open block, fence or reasoning), how far
   * each closing search got, so the next chunk resumes there instead of rescanning.
   */
  #waiting: { cursor: number; searchedTo: Map<string, number> } = { cursor: -1, searchedTo: new Map() };

  constructor(blocks: readonly BlockSpec[], startsInReasoning: boolean) {
    this.#blocks = blocks;
    this.#markers = [...new Set([...blocks.map((b) => b.open), ...REASONING.map((r) => r.open), '`'])];
    if (startsInReasoning) this.#reasoning = { start: 0, innerStart: 0, close: '</think>', forced: true };
  }

  advance(text: string, final: boolean): void {
    for (;;) {
      if (this.#reasoning) {
        if (!this.#advanceReasoning(text, final)) return;
        continue;
      }
      const found = this.#earliest(text);
      if (found === undefined) {
        const safe = final ? text.length : text.length - partialMarkerSuffix(text, this.cursor, this.#markers);
        this.#text(safe);
        return;
      }
      if (!final && this.#longerMarkerMayStart(text, found.at)) {
        this.#text(found.at);
        return;
      }
      this.#text(found.at);
      if (found.kind === 'code') {
        if (!this.#advanceCode(text, final)) return;
      } else if (found.kind === 'reasoning') {
        this.#reasoning = { start: found.at, innerStart: found.at + found.spec.open.length, close: found.spec.close, forced: false };
        this.cursor = found.at + found.spec.open.length;
      } else if (!this.#advanceBlock(text, found.spec, final)) {
        return;
      }
    }
  }

  /** `text.indexOf(needle, from)`, resuming where an earlier failed search for it at this cursor stopped. */
  #find(text: string, needle: string, from: number): number {
    if (this.#waiting.cursor !== this.cursor) this.#waiting = { cursor: this.cursor, searchedTo: new Map() };
    const searched = this.#waiting.searchedTo.get(needle);
    const at = text.indexOf(needle, searched === undefined ? from : Math.max(from, searched - needle.length + 1));
    if (at < 0) this.#waiting.searchedTo.set(needle, text.length);
    return at;
  }

  /** Whether text arrived since the last check at this cursor contains one of `chars` (a JSON value can only end on one). */
  #arrived(text: string, chars: string): boolean {
    if (this.#waiting.cursor !== this.cursor) this.#waiting = { cursor: this.cursor, searchedTo: new Map() };
    const since = this.#waiting.searchedTo.get('\u0000end') ?? -1;
    this.#waiting.searchedTo.set('\u0000end', text.length);
    if (since < 0) return true;
    for (let i = since; i < text.length; i++) if (chars.includes(text[i]!)) return true;
    return false;
  }

  #text(end: number): void {
    if (end <= this.cursor) return;
    const last = this.segments.at(-1);
    if (last?.kind === 'text' && last.end === this.cursor) last.end = end;
    else this.segments.push({ kind: 'text', start: this.cursor, end });
    this.cursor = end;
  }

  #advanceReasoning(text: string, final: boolean): boolean {
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
      this.#next.clear();
    } else {
      this.segments.push({ kind: 'reasoning', start: reasoning.start, end: text.length, inner: [reasoning.innerStart, text.length] });
      this.cursor = text.length;
    }
    return true;
  }

  /** A backtick at the cursor: fenced block or inline span, both plain text. */
  #advanceCode(text: string, final: boolean): boolean {
    const at = this.cursor;
    if (text.startsWith('```', at)) {
      const close = this.#find(text, '```', at + 3);
      if (close >= 0) {
        this.#text(close + 3);
        return true;
      }
    } else if (text.length - at >= 3 || final) {
      const close = this.#find(text, '`', at + 1);
      const newline = this.#find(text, '\n', at + 1);
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

  #advanceBlock(text: string, spec: BlockSpec, final: boolean): boolean {
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
      end = spec.end(text, payloadStart);
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

  #earliest(text: string): Found | undefined {
    let best: Found | undefined;
    let bestLength = 0;
    for (const marker of this.#markers) {
      let cached = this.#next.get(marker);
      const stale = cached === undefined || (cached.at >= 0 ? cached.at < this.cursor : cached.searchedTo < text.length);
      if (stale) {
        const from = cached && cached.at < 0 ? Math.max(this.cursor, cached.searchedTo - marker.length + 1) : this.cursor;
        cached = { at: text.indexOf(marker, from), searchedTo: text.length };
        this.#next.set(marker, cached);
      }
      const at = cached!.at;
      if (at < 0 || (best && (at > best.at || (at === best.at && marker.length <= bestLength)))) continue;
      bestLength = marker.length;
      const block = this.#blocks.find((b) => b.open === marker);
      const reasoning = REASONING.find((r) => r.open === marker);
      best = block ? { at, kind: 'block', spec: block } : reasoning ? { at, kind: 'reasoning', spec: reasoning } : { at, kind: 'code' };
    }
    return best;
  }

  /** A longer marker could still start where a shorter one was found, and the text ends inside it. */
  #longerMarkerMayStart(text: string, at: number): boolean {
    const rest = text.length - at;
    return this.#markers.some((m) => m.length > rest && m.startsWith(text.slice(at)));
  }
}

/** Length of the longest suffix of text[from..] that is a proper prefix of some marker. */
function partialMarkerSuffix(text: string, from: number, markers: readonly string[]): number {
  let longest = 0;
  for (const marker of markers) {
    const max = Math.min(marker.length - 1, text.length - from);
    for (let size = max; size > longest; size--) {
      if (text.endsWith(marker.slice(0, size))) {
        longest = size;
        break;
      }
    }
  }
  return longest;
}
