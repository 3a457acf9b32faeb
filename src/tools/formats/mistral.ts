import { parseJsonLenient, scanValueEnd, skipSpace } from '../json-lenient.js';
import type { ToolCallFormat } from './format.js';
import { callsFromJsonValue, noCall } from './shared.js';

const ARGS = '[ARGS]';

/** Where the name of a v11 call ends and its JSON starts: at "[ARGS]", or at "{". */
function nameEnd(text: string, from: number): { name: string; json: number } | undefined {
  const brace = text.indexOf('{', from);
  const args = text.indexOf(ARGS, from);
  if (args >= 0 && (brace < 0 || args < brace)) return { name: text.slice(from, args).trim(), json: args + ARGS.length };
  return brace >= 0 ? { name: text.slice(from, brace).trim(), json: brace } : undefined;
}

/** A v11 call's name: word characters, dots and dashes (anything else before JSON is junk or prose). */
const CALL_NAME = /^[\w.\-]+$/;

/**
 * Where the pre-v11 list starts when something that is not a v11 call name stands between
 * `[TOOL_CALLS]` and it (`calls:`, `json`): the first `[` that opens an object. vLLM skips such
 * junk the same way. -1 when there is none, or when the text reads as a v11 call.
 */
function listAfterJunk(text: string, from: number): number {
  const split = nameEnd(text, from);
  if (split && CALL_NAME.test(split.name)) return -1;
  for (let at = text.indexOf('[', from); at >= 0; at = text.indexOf('[', at + 1)) {
    const next = skipSpace(text, at + 1);
    if (next >= text.length) return -1;
    if (text[next] === '{') return at;
  }
  return -1;
}

/**
 * Mistral: before v11 `[TOOL_CALLS][{"name": …, "arguments": {…}}, …]`; from v11
 * `[TOOL_CALLS]NAME[ARGS]{…}` (or `NAME{…}`), repeated, with no end marker: each call ends where
 * its JSON does, and text after it stays content.
 */
export const mistral: ToolCallFormat = {
  name: 'mistral',
  blocks: [
    {
      open: '[TOOL_CALLS]',
      end(text, from) {
        const start = skipSpace(text, from);
        if (text[start] === '[') return scanValueEnd(text, start);
        const list = listAfterJunk(text, start);
        if (list >= 0) return scanValueEnd(text, list);
        const split = nameEnd(text, start);
        return split ? scanValueEnd(text, split.json) : -1;
      },
    },
  ],
  parseBlock(payload, { complete }) {
    if (!complete) return noCall('the [TOOL_CALLS] call is cut off (truncated)');
    const start = skipSpace(payload, 0);
    const list = payload[start] === '[' ? start : listAfterJunk(payload, start);
    if (list >= 0) {
      const parsed = parseJsonLenient(payload.slice(list));
      const calls = parsed.ok ? callsFromJsonValue(parsed.value) : undefined;
      if (!calls) return noCall('the [TOOL_CALLS] list is not a list of calls');
      return { calls, diagnostics: list > start ? [`skipped ${JSON.stringify(payload.slice(start, list).trim())} before the list`] : [] };
    }
    const split = nameEnd(payload, start);
    if (!split || !CALL_NAME.test(split.name)) return noCall('no tool name after [TOOL_CALLS]');
    const parsed = parseJsonLenient(payload.slice(split.json));
    if (!parsed.ok) return noCall(`the arguments are not valid JSON: ${parsed.error}`);
    return { calls: [{ name: split.name, arguments: parsed.value, typed: true }] };
  },
};
