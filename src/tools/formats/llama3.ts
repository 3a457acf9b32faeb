import { skipSpace } from '../json-lenient.js';
import { parsePythonCallList } from '../python-literal.js';
import type { BlockResult } from '../types.js';
import type { ToolCallFormat } from './format.js';
import { jsonCallsInSequence, noCall } from './shared.js';

/**
 * Llama 3.1's built-in tools after `<|python_tag|>`: `brave_search.call(query="…")`, or Python
 * code, which is a call of the `python` tool (its code interpreter).
 */
function readBuiltin(payload: string): BlockResult {
  const builtin = /^\s*([A-Za-z_]\w*)\.call\(([\s\S]*)\)\s*$/.exec(payload);
  if (builtin) {
    const parsed = parsePythonCallList(`[${builtin[1]}(${builtin[2]})]`);
    if (!parsed.ok || parsed.calls.length !== 1) return noCall(`the built-in call ${builtin[1]}.call(…) does not parse`);
    return { calls: [{ name: parsed.calls[0]!.name, arguments: parsed.calls[0]!.arguments, typed: true }] };
  }
  const code = payload.trim();
  return code === '' ? noCall('nothing after <|python_tag|>') : { calls: [{ name: 'python', arguments: { code }, typed: true }] };
}

function read(payload: string, requireArguments: boolean): BlockResult {
  const parsed = jsonCallsInSequence(payload, requireArguments);
  if ('error' in parsed) return noCall(parsed.error);
  const rest = payload.slice(parsed.end);
  return { calls: parsed.calls, content: rest.trim() === '' ? undefined : rest, diagnostics: parsed.repaired ? ['repaired the call JSON'] : [] };
}

/**
 * Llama 3.x JSON: `{"name": …, "parameters": {…}}`, optionally after `<|python_tag|>`, several
 * separated by ";" or newlines. Without the tag it is only tried as bare output, where prose may
 * follow the calls (the model explains what it does next; vLLM reads such calls too).
 */
export const llama3Json: ToolCallFormat = {
  name: 'llama3_json',
  blocks: [{ open: '<|python_tag|>', close: ['<|eom_id|>', '<|eot_id|>'] }],
  // JSON after the tag is a call (or, unreadable, an error: never patched into something else); anything else is a built-in call.
  parseBlock: (payload) => (/^\s*[[{]/.test(payload) ? read(payload, false) : readBuiltin(payload)),
  bareWithoutHint: true,
  parseBare(text) {
    const start = skipSpace(text, 0);
    if (text[start] !== '{' && text[start] !== '[') return undefined;
    const result = read(text, true);
    return result.calls.length > 0 ? result : undefined;
  },
  bareCallName: (text) => /^\s*\[?\s*\{\s*["']name["']\s*:\s*["']([^"'\\]{1,200})["']/.exec(text)?.[1],
};
