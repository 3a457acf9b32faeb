import { parseJsonLenient, scanValueEnd, skipSpace } from '../json-lenient.js';
import { isPlainObject } from '../schema.js';
import type { BlockResult, RawCall } from '../types.js';

export const noCall = (error: string): BlockResult => ({ calls: [], error });

/**
 * A call object in any of the shapes models use: {name, arguments|parameters}, {function: {…}},
 * {tool_name, …}. Without markers around it, an object needs its arguments key to be a call:
 * `{"name": "Alice"}` is data.
 */
export function callFromObject(value: unknown, requireArguments = false): RawCall | undefined {
  if (!isPlainObject(value)) return undefined;
  const fn = isPlainObject(value.function) ? value.function : undefined;
  const name = value.name ?? fn?.name ?? value.tool_name;
  if (typeof name !== 'string' || name === '') return undefined;
  const args = value.arguments ?? value.parameters ?? fn?.arguments ?? fn?.parameters;
  if (args === undefined && requireArguments) return undefined;
  // Command R7B writes `tool_call_id`; Mistral's JSON lists and OpenAI-shaped calls `id`.
  const id = value.tool_call_id ?? value.id;
  return { name, arguments: args ?? {}, typed: true, ...(typeof id === 'string' ? { id } : {}) };
}

/** One JSON value holding a call or a list of calls. */
export function callsFromJsonValue(value: unknown, requireArguments = false): RawCall[] | undefined {
  const list = Array.isArray(value) ? value : [value];
  const calls = list.map((item) => callFromObject(item, requireArguments));
  return calls.length > 0 && calls.every((c) => c !== undefined) ? (calls as RawCall[]) : undefined;
}

/**
 * JSON call values one after another (separated by whitespace, ";" or ","), as Llama 3 and
 * others write several calls. Returns the calls and where the JSON stopped, or an error.
 */
export function jsonCallsInSequence(text: string, requireArguments = false): { calls: RawCall[]; end: number; repaired: boolean } | { error: string } {
  const calls: RawCall[] = [];
  let i = skipSpace(text, 0);
  let repaired = false;
  while (i < text.length && (text[i] === '{' || text[i] === '[')) {
    const end = scanValueEnd(text, i);
    if (end < 0) return { error: 'the call JSON is cut off (truncated)' };
    const parsed = parseJsonLenient(text.slice(i, end));
    if (!parsed.ok) return { error: `the call is not valid JSON: ${parsed.error}` };
    const found = callsFromJsonValue(parsed.value, requireArguments);
    if (!found) return { error: 'JSON without a "name" and "arguments" is not a call' };
    calls.push(...found);
    repaired ||= parsed.repaired;
    i = skipSpace(text, end);
    while (text[i] === ';' || text[i] === ',') i = skipSpace(text, i + 1);
  }
  return calls.length > 0 ? { calls, end: i, repaired } : { error: 'no call JSON found' };
}

/** A value between tags, with the one leading and one trailing newline the templates add removed. */
export function tagValue(raw: string): string {
  let value = raw.startsWith('\n') ? raw.slice(1) : raw;
  if (value.endsWith('\n')) value = value.slice(0, -1);
  return value;
}
