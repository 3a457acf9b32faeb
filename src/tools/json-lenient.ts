/**
 * JSON as models write it: strict first, then repaired (trailing commas, single-quoted strings,
 * Python's True/False/None), never patched up (an unterminated value is an error). Every function
 * here is a single left-to-right pass: linear in the input, no regular expressions over it.
 */

export type LenientJson = { ok: true; value: unknown; repaired: boolean } | { ok: false; error: string };

export const MAX_DEPTH = 512;

/**
 * Index just past the JSON (or Python-literal) value starting at `start` (after whitespace), or
 * -1 when the value is not complete in `text`. Quote-aware, so braces inside strings do not count.
 */
export function scanValueEnd(text: string, start: number): number {
  let i = skipSpace(text, start);
  const first = text[i];
  if (first === undefined) return -1;
  if (first === '"' || first === "'") return scanString(text, i);
  if (first !== '{' && first !== '[') {
    // A scalar runs to the next delimiter; it is complete only if something follows it.
    while (i < text.length && !',}]\n\r\t ;'.includes(text[i]!)) i++;
    return i < text.length ? i : -1;
  }
  let depth = 0;
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"' || c === "'") {
      i = scanString(text, i);
      if (i < 0) return -1;
      i--;
    } else if (c === '{' || c === '[') {
      if (++depth > MAX_DEPTH) return -1;
    } else if (c === '}' || c === ']') {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}

/** Index just past the quoted string at `start`, or -1 if it never closes. */
function scanString(text: string, start: number): number {
  const quote = text[start];
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === quote) return i + 1;
  }
  return -1;
}

export function skipSpace(text: string, start: number): number {
  let i = start;
  while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  return i;
}

export function parseJsonLenient(text: string): LenientJson {
  try {
    return { ok: true, value: checkFinite(JSON.parse(text)), repaired: false };
  } catch (strictError) {
    const repaired = repair(text);
    if (repaired === undefined) return { ok: false, error: (strictError as Error).message };
    try {
      return { ok: true, value: checkFinite(JSON.parse(repaired)), repaired: true };
    } catch (error) {
      return { ok: false, error: (error as Error).message };
    }
  }
}

function checkFinite(value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) throw new Error('a number that is not finite');
  return value;
}

/** Rewrites single quotes, Python literals and trailing commas into JSON; undefined if a string never closes. */
function repair(text: string): string | undefined {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"' || c === "'") {
      const end = scanString(text, i);
      if (end < 0) return undefined;
      out += c === '"' ? text.slice(i, end) : requote(text.slice(i + 1, end - 1));
      i = end - 1;
    } else if (c === ',') {
      const next = text[skipSpace(text, i + 1)];
      if (next !== '}' && next !== ']') out += c;
    } else if (isWordStart(c)) {
      let end = i;
      while (end < text.length && isWordPart(text[end]!)) end++;
      const word = text.slice(i, end);
      out += word === 'True' ? 'true' : word === 'False' ? 'false' : word === 'None' ? 'null' : word;
      i = end - 1;
    } else {
      out += c;
    }
  }
  return out;
}

/** A single-quoted Python string body as a JSON string. */
function requote(body: string): string {
  let out = '"';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '\\' && body[i + 1] === "'") {
      out += "'";
      i++;
    } else if (c === '\\') {
      out += c + (body[i + 1] ?? '');
      i++;
    } else if (c === '"') {
      out += '\\"';
    } else {
      out += c;
    }
  }
  return out + '"';
}

const isWordStart = (c: string) => (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c === '_';
const isWordPart = (c: string) => isWordStart(c) || (c >= '0' && c <= '9');
