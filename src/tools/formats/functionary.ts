import { parseJsonLenient } from '../json-lenient.js';
import { isPlainObject } from '../schema.js';
import type { BlockResult } from '../types.js';
import type { ToolCallFormat } from './format.js';
import { noCall } from './shared.js';

const FUNCTION = '<function=';
const FUNCTION_NAMED = '<function name="';

function read(name: string, json: string): BlockResult {
  if (!/^[\w.\-:]+$/.test(name)) return noCall('no tool name in the <function> tag');
  const parsed = parseJsonLenient(json.trim() === '' ? '{}' : json.trim());
  if (!parsed.ok || !isPlainObject(parsed.value)) return noCall(`the arguments of ${name} are not a JSON object`);
  return { calls: [{ name, arguments: parsed.value, typed: true }], ...(parsed.repaired ? { diagnostics: ['repaired the call JSON'] } : {}) };
}

/**
 * Functionary v3.1 and Llama 3.1's user-defined form: `<function=NAME>{json}</function>`, or
 * `<function name="NAME">{json}</function>`. Shares `<function=` with Qwen3-Coder, whose body is
 * parameters, not JSON: each takes the payloads that are its own.
 */
export const functionary: ToolCallFormat = {
  name: 'functionary',
  blocks: [
    { open: FUNCTION, close: ['</function>'] },
    { open: FUNCTION_NAMED, close: ['</function>'] },
  ],
  accepts: (payload, open) => (open === FUNCTION ? /^[^>]*>\s*\{/.test(payload.slice(0, 256)) : true),
  parseBlock(payload, { open, complete }) {
    if (!complete) return noCall('the <function> block is cut off (truncated)');
    const nameEnd = payload.indexOf(open === FUNCTION ? '>' : '">');
    if (nameEnd < 0) return noCall('the <function> tag is not closed');
    return read(payload.slice(0, nameEnd).trim(), payload.slice(nameEnd + (open === FUNCTION ? 1 : 2)));
  },
};
