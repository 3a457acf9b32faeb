import { parseJsonLenient } from '../json-lenient.js';
import { isPlainObject } from '../schema.js';
import type { BlockResult, RawCall } from '../types.js';
import type { ToolCallFormat } from './format.js';
import { noCall } from './shared.js';

const DELIMITERS = ['<|"|>', '<escape>'];

/**
 * One `{k:v,…}` of Gemma's call syntax from `start` (at "{") as JSON text: keys are bare, strings
 * are between `<|"|>` (Gemma 4) or `<escape>` (FunctionGemma) and hold anything, quotes included.
 * Returns the JSON and where the object ended, or undefined when it is cut off.
 */
function toJson(text: string, start: number): { json: string; end: number } | undefined {
  let json = '';
  let depth = 0;
  // The last character written that is not whitespace: a bare key may follow only "{" or "," (kept
  // here: testing the growing JSON text with a regular expression made long inputs quadratic).
  let last = '';
  for (let i = start; i < text.length; ) {
    const delimiter = DELIMITERS.find((d) => text.startsWith(d, i));
    if (delimiter) {
      const close = text.indexOf(delimiter, i + delimiter.length);
      if (close < 0) return undefined;
      json += JSON.stringify(text.slice(i + delimiter.length, close));
      last = '"';
      i = close + delimiter.length;
      continue;
    }
    const char = text[i]!;
    if (char === '{' || char === '[') depth++;
    if (char === '}' || char === ']') depth--;
    const key = (last === '{' || last === ',') && /[A-Za-z_]/.test(char) ? /^[A-Za-z_][\w.\-]*(?=\s*:)/.exec(text.slice(i, i + 128)) : null;
    if (key) {
      json += JSON.stringify(key[0]);
      last = '"';
      i += key[0].length;
      continue;
    }
    json += char;
    if (!/\s/.test(char)) last = char;
    i++;
    if (depth === 0) return { json, end: i };
  }
  return undefined;
}

function read(payload: string): BlockResult {
  const calls: RawCall[] = [];
  let at = payload.indexOf('call:');
  while (at >= 0) {
    const brace = payload.indexOf('{', at);
    if (brace < 0) return noCall('a Gemma call without its {arguments}');
    const name = payload.slice(at + 'call:'.length, brace).trim();
    if (!/^[\w.\-]+$/.test(name)) return noCall('no tool name after call:');
    const object = toJson(payload, brace);
    if (!object) return noCall(`the arguments of ${name} are cut off (truncated)`);
    const parsed = parseJsonLenient(object.json);
    if (!parsed.ok || !isPlainObject(parsed.value)) return noCall(`the arguments of ${name} do not parse: ${parsed.ok ? 'not an object' : parsed.error}`);
    calls.push({ name, arguments: parsed.value, typed: true });
    // Several calls follow one another with nothing between.
    at = payload.indexOf('call:', object.end);
  }
  return calls.length > 0 ? { calls } : noCall('no call: inside the block');
}

/**
 * Gemma 4 `<|tool_call>call:f{k:<|"|>v<|"|>,n:1}<tool_call|>` and FunctionGemma
 * `<start_function_call>call:f{k:<escape>v<escape>}<end_function_call>`.
 */
export const gemma: ToolCallFormat = {
  name: 'gemma',
  blocks: [
    { open: '<|tool_call>', close: ['<tool_call|>'] },
    { open: '<start_function_call>', close: ['<end_function_call>'] },
  ],
  parseBlock: (payload) => read(payload),
};
