import { MAX_DEPTH, parseJsonLenient } from './json-lenient.js';
import { callsFromJsonValue } from './formats/shared.js';
import type { RawCall } from './types.js';

const enum State {
  Prose,
  /** After `[`: a list of calls goes on with `{`. */
  OpenList,
  /** After `{`: an object whose first key is quoted, as every call object is. */
  OpenObject,
  Value,
  /** A value closed: the sequence goes on with another (after spaces, `;` or `,`), or ends. */
  After,
}

const SPACE = new Set([' ', '\n', '\r', '\t']);
/** Where `c` next occurs in `text` from `from`; Infinity when it does not. */
const indexFrom = (text: string, c: string, from: number) => {
  const at = text.indexOf(c, from);
  return at < 0 ? Infinity : at;
};

/**
 * Finds the JSON values that end a message after prose, as Llama 3 models write calls when they
 * say something first: `Let me check. {"name": …, "parameters": {…}}`, several separated by `;`,
 * `,` or newlines. One left-to-right pass, fed in pieces (a stream) or at once (a whole answer),
 * so that both decide alike.
 *
 * A candidate starts at `{` followed by a quoted key, or `[` followed by such an object: braces
 * in prose or code (`if (x) {`) never hold a stream back. A value that never closes holds the
 * rest of the message (it may still be a call); once prose follows a value, the sequence is over.
 */
export class TrailingJsonScanner {
  #state = State.Prose;
  #offset = 0;
  #sequenceStart = -1;
  #valueStart = -1;
  #depth = 0;
  #quote: string | undefined;
  #escaped = false;
  /** The closed values of the current sequence, as [start, end) in the text fed so far. */
  #values: Array<[number, number]> = [];

  push(piece: string): void {
    // Prose is most of a message: it is skipped to the next `{` or `[` (each searched for once).
    let brace = -1;
    let bracket = -1;
    for (let i = 0; i < piece.length; i++) {
      if (this.#state === State.Prose) {
        if (brace < i) brace = indexFrom(piece, '{', i);
        if (bracket < i) bracket = indexFrom(piece, '[', i);
        i = Math.min(brace, bracket);
        if (i === Infinity) break;
      }
      this.#step(piece[i]!, this.#offset + i);
    }
    this.#offset += piece.length;
  }

  /** Where the text that may still turn out to be calls begins (-1: none), so a stream holds it back. */
  get holdFrom(): number {
    return this.#state === State.Prose ? -1 : this.#sequenceStart;
  }

  /** The values that end the text, when it ends with a closed sequence. */
  get trailingValues(): ReadonlyArray<readonly [number, number]> {
    return this.#state === State.After ? this.#values : [];
  }

  #step(c: string, at: number): void {
    switch (this.#state) {
      case State.Prose:
        return this.#open(c, at);
      case State.After:
        if (SPACE.has(c) || c === ';' || c === ',') return;
        if (c === '{' || c === '[') return this.#open(c, at);
        return this.#reset();
      case State.OpenList:
        if (SPACE.has(c)) return;
        if (c === '{') {
          this.#depth++;
          this.#state = State.OpenObject;
          return;
        }
        this.#reset();
        return this.#open(c, at);
      case State.OpenObject:
        if (SPACE.has(c)) return;
        if (c === '"' || c === "'") {
          this.#quote = c;
          this.#state = State.Value;
          return;
        }
        this.#reset();
        return this.#open(c, at);
      case State.Value:
        return this.#inValue(c, at);
    }
  }

  /** In prose or between values: `{` or `[` may start a value. */
  #open(c: string, at: number): void {
    if (c !== '{' && c !== '[') return;
    if (this.#state === State.Prose) this.#sequenceStart = at;
    this.#valueStart = at;
    this.#depth = 1;
    this.#state = c === '{' ? State.OpenObject : State.OpenList;
  }

  #inValue(c: string, at: number): void {
    if (this.#quote !== undefined) {
      if (this.#escaped) this.#escaped = false;
      else if (c === '\\') this.#escaped = true;
      else if (c === this.#quote) this.#quote = undefined;
      return;
    }
    if (c === '"' || c === "'") this.#quote = c;
    else if (c === '{' || c === '[') {
      if (++this.#depth > MAX_DEPTH) this.#reset();
    } else if ((c === '}' || c === ']') && --this.#depth === 0) {
      this.#values.push([this.#valueStart, at + 1]);
      this.#state = State.After;
    }
  }

  #reset(): void {
    this.#state = State.Prose;
    this.#sequenceStart = -1;
    this.#values = [];
    this.#quote = undefined;
    this.#escaped = false;
  }
}

/**
 * The calls that end `content` after prose: the longest run of call values at its end (a JSON
 * value before them that is not a call stays prose), with the text before them. Calls need
 * `parameters` or `arguments` here: `{"name": "Alice"}` is data.
 */
export function trailingJsonCalls(content: string): { calls: RawCall[]; before: string } | undefined {
  const scanner = new TrailingJsonScanner();
  scanner.push(content);
  const values = scanner.trailingValues;
  const fromLast: RawCall[][] = [];
  let firstCall = -1;
  for (let i = values.length - 1; i >= 0; i--) {
    const [start, end] = values[i]!;
    const parsed = parseJsonLenient(content.slice(start, end));
    const found = parsed.ok ? callsFromJsonValue(parsed.value, true) : undefined;
    if (!found) break;
    fromLast.push(found);
    firstCall = start;
  }
  return firstCall < 0 ? undefined : { calls: fromLast.reverse().flat(), before: content.slice(0, firstCall) };
}
