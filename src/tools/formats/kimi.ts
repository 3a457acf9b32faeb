import { parseJsonLenient } from '../json-lenient.js';
import type { RawCall } from '../types.js';
import type { ToolCallFormat } from './format.js';
import { noCall } from './shared.js';

const CALL_BEGIN = '<|tool_call_begin|>';
const ARGUMENT_BEGIN = '<|tool_call_argument_begin|>';
const CALL_END = '<|tool_call_end|>';

/**
 * Kimi K2: `<|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:IDX<|tool_call_argument_begin|>{…}<|tool_call_end|>…`.
 * The `functions.` prefix is optional; the name sits between it and ":IDX".
 */
export const kimiK2: ToolCallFormat = {
  name: 'kimi_k2',
  blocks: [{ open: '<|tool_calls_section_begin|>', close: ['<|tool_calls_section_end|>'] }],
  parseBlock(payload) {
    const calls: RawCall[] = [];
    let at = payload.indexOf(CALL_BEGIN);
    while (at >= 0) {
      const argsAt = payload.indexOf(ARGUMENT_BEGIN, at);
      const end = payload.indexOf(CALL_END, at);
      if (argsAt < 0 || end < 0 || end < argsAt) return noCall('a Kimi tool call is cut off (truncated)');
      const id = payload.slice(at + CALL_BEGIN.length, argsAt).trim();
      const name = id.replace(/^functions\./, '').replace(/:\d+$/, '');
      const parsed = parseJsonLenient(payload.slice(argsAt + ARGUMENT_BEGIN.length, end).trim());
      if (!parsed.ok) return noCall(`the arguments of ${name} are not valid JSON: ${parsed.error}`);
      calls.push({ name, arguments: parsed.value, typed: true, id });
      at = payload.indexOf(CALL_BEGIN, end);
    }
    return calls.length > 0 ? { calls } : noCall('no <|tool_call_begin|> inside the tool-calls section');
  },
};
