import { skipSpace } from '../json-lenient.js';
import type { BlockResult } from '../types.js';
import type { ToolCallFormat } from './format.js';
import { jsonCallsInSequence, noCall } from './shared.js';

function read(payload: string, requireArguments: boolean): BlockResult {
  const parsed = jsonCallsInSequence(payload, requireArguments);
  if ('error' in parsed) return noCall(parsed.error);
  const rest = payload.slice(parsed.end);
  return { calls: parsed.calls, content: rest.trim() === '' ? undefined : rest, diagnostics: parsed.repaired ? ['repaired the call JSON'] : [] };
}

/**
 * Llama 3.x JSON: `{"name": …, "parameters": {…}}`, optionally after `<|python_tag|>`, several
 * separated by ";" or newlines. Without the tag it is only tried as bare output.
 */
export const llama3Json: ToolCallFormat = {
  name: 'llama3_json',
  blocks: [{ open: '<|python_tag|>', close: ['<|eom_id|>', '<|eot_id|>'] }],
  parseBlock: (payload) => read(payload, false),
  bareWithoutHint: true,
  parseBare(text) {
    const start = skipSpace(text, 0);
    if (text[start] !== '{' && text[start] !== '[') return undefined;
    const result = read(text, true);
    return result.calls.length > 0 && result.content === undefined ? result : undefined;
  },
};
