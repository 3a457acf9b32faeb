/**
 * Python call lists as models write them, `[f(a=1, b='x'), g()]`, read with a small recursive
 * descent parser (depth-capped, linear). A call whose arguments cannot become JSON (a bytes
 * literal, 1e999) is dropped and its siblings kept; a list that does not parse is an error.
 */

export interface PythonCall {
  name: string;
  arguments: Record<string, unknown>;
}

export type PythonCallList = { ok: true; calls: PythonCall[]; dropped: string[] } | { ok: false; error: string };

const MAX_DEPTH = 64;

class Unconvertible extends Error {}

export function parsePythonCallList(text: string): PythonCallList {
  const parser = new Parser(text);
  try {
    return parser.callList();
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

class Parser {
  #i = 0;
  #depth = 0;

  constructor(readonly text: string) {}

  callList(): PythonCallList {
    const calls: PythonCall[] = [];
    const dropped: string[] = [];
    this.#expect('[');
    this.#items(']', () => {
      const name = this.#identifier();
      try {
        calls.push({ name, arguments: this.#arguments() });
      } catch (error) {
        if (!(error instanceof Unconvertible)) throw error;
        dropped.push(`${name}: ${error.message}`);
        this.#skipPastCall();
      }
    });
    this.#space();
    if (this.#i !== this.text.length) this.#fail('the end of the list');
    return { ok: true, calls, dropped };
  }

  /** Comma-separated items up to `close` (a trailing comma allowed), past which it leaves the cursor. */
  #items(close: string, item: () => void): void {
    this.#space();
    while (this.#peek() !== close) {
      item();
      this.#space();
      if (this.#peek() === ',') {
        this.#i++;
        this.#space();
      } else if (this.#peek() !== close) {
        this.#fail(`"," or "${close}"`);
      }
    }
    this.#i++;
  }

  #arguments(): Record<string, unknown> {
    this.#expect('(');
    const args: Record<string, unknown> = {};
    this.#items(')', () => {
      const key = this.#identifier();
      this.#expect('=');
      args[key] = this.#value();
    });
    return args;
  }

  #value(): unknown {
    this.#space();
    if (++this.#depth > MAX_DEPTH) throw new Error(`values nested deeper than ${MAX_DEPTH}`);
    try {
      const c = this.#peek();
      if (c === "'" || c === '"') return this.#string();
      if (c === '[' || c === '(') return this.#sequence(c === '[' ? ']' : ')');
      if (c === '{') return this.#dict();
      if (c === 'b' && (this.text[this.#i + 1] === "'" || this.text[this.#i + 1] === '"')) {
        this.#i++;
        this.#string();
        throw new Unconvertible('a bytes literal has no JSON form');
      }
      if (c !== undefined && /[A-Za-z_]/.test(c)) {
        const word = this.#identifier();
        if (word === 'True') return true;
        if (word === 'False') return false;
        if (word === 'None') return null;
        this.#fail('a literal');
      }
      return this.#number();
    } finally {
      this.#depth--;
    }
  }

  #sequence(close: string): unknown[] {
    this.#i++;
    const items: unknown[] = [];
    this.#items(close, () => items.push(this.#value()));
    return items;
  }

  #dict(): Record<string, unknown> {
    this.#i++;
    const out: Record<string, unknown> = {};
    this.#items('}', () => {
      const key = this.#value();
      if (typeof key !== 'string' && typeof key !== 'number') this.#fail('a string or number key');
      this.#expect(':');
      out[String(key)] = this.#value();
    });
    return out;
  }

  #string(): string {
    const quote = this.text[this.#i++];
    let out = '';
    for (;;) {
      const c = this.text[this.#i++];
      if (c === undefined) this.#fail(`the closing ${quote}`);
      if (c === quote) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.text[this.#i++];
      if (e === 'n') out += '\n';
      else if (e === 't') out += '\t';
      else if (e === 'r') out += '\r';
      else if (e === 'x' || e === 'u') {
        const size = e === 'x' ? 2 : 4;
        const hex = this.text.slice(this.#i, this.#i + size);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== size) this.#fail('a hex escape');
        out += String.fromCharCode(parseInt(hex, 16));
        this.#i += size;
      } else if (e === undefined) this.#fail('an escape');
      else out += e;
    }
  }

  #number(): number {
    const start = this.#i;
    while (this.#i < this.text.length && /[-+0-9.eE_]/.test(this.text[this.#i]!)) this.#i++;
    const raw = this.text.slice(start, this.#i).replaceAll('_', '');
    const value = Number(raw);
    if (raw === '' || Number.isNaN(value)) this.#fail('a value');
    if (!Number.isFinite(value)) throw new Unconvertible(`${raw} is not a finite number`);
    return value;
  }

  #identifier(): string {
    const start = this.#i;
    while (this.#i < this.text.length && /[A-Za-z0-9_.]/.test(this.text[this.#i]!)) this.#i++;
    if (start === this.#i) this.#fail('a name');
    return this.text.slice(start, this.#i);
  }

  /** After a call that cannot be converted, continue at the ")" that closes it. */
  #skipPastCall(): void {
    let depth = 1;
    while (this.#i < this.text.length && depth > 0) {
      const c = this.text[this.#i]!;
      if (c === "'" || c === '"') {
        this.#string();
        continue;
      }
      if (c === '(' || c === '[' || c === '{') depth++;
      else if (c === ')' || c === ']' || c === '}') depth--;
      this.#i++;
    }
    if (depth > 0) this.#fail('the end of the call');
  }

  #space(): void {
    while (this.#i < this.text.length && ' \n\r\t'.includes(this.text[this.#i]!)) this.#i++;
  }

  #peek(): string | undefined {
    return this.text[this.#i];
  }

  #expect(c: string): void {
    this.#space();
    if (this.text[this.#i] !== c) this.#fail(`"${c}"`);
    this.#i++;
  }

  #fail(expected: string): never {
    throw new Error(`expected ${expected} at offset ${this.#i}`);
  }
}
