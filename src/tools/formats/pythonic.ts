import { parsePythonCallList } from '../python-literal.js';
import type { BlockResult } from '../types.js';
import type { ToolCallFormat } from './format.js';
import { jsonCallsInSequence, noCall } from './shared.js';

function read(payload: string): BlockResult {
  const trimmed = payload.trim();
  if (trimmed.startsWith('[{')) {
    // LFM2 in JSON mode puts a JSON list between the same markers.
    const json = jsonCallsInSequence(trimmed);
    return 'error' in json ? noCall(json.error) : { calls: json.calls };
  }
  const parsed = parsePythonCallList(trimmed);
  if (!parsed.ok) return noCall(`the call list does not parse: ${parsed.error}`);
  if (parsed.calls.length === 0) return noCall(`no call could be read: ${parsed.dropped.join('; ')}`);
  return {
    calls: parsed.calls.map((call) => ({ name: call.name, arguments: call.arguments, typed: true })),
    diagnostics: parsed.dropped.map((d) => `dropped a call that has no JSON form: ${d}`),
  };
}

/** Pythonic call lists: Llama 4 `<|python_start|>[f(a=1)]<|python_end|>`, LFM2 `<|tool_call_start|>[…]<|tool_call_end|>`. */
export const pythonic: ToolCallFormat = {
  name: 'pythonic',
  blocks: [
    { open: '<|python_start|>', close: ['<|python_end|>'] },
    { open: '<|tool_call_start|>', close: ['<|tool_call_end|>'] },
  ],
  parseBlock: (payload) => read(payload),
  bareWithoutHint: true,
  parseBare(text) {
    const trimmed = text.trim();
    if (!trimmed.startsWith('[') || !trimmed.endsWith(']') || trimmed.startsWith('[{')) return undefined;
    const result = read(trimmed);
    return result.calls.length > 0 ? result : undefined;
  },
  bareCallName: (text) => /^\s*\[\s*([A-Za-z_][\w.]{0,200})\s*\(/.exec(text)?.[1],
};
