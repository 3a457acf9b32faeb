import type { ToolCallFormat } from './format.js';
import { jsonCallsInSequence, noCall } from './shared.js';

/**
 * Hermes / Qwen2.5 / Qwen3: `<tool_call>{"name": …, "arguments": {…}}</tool_call>`, repeated; and
 * the same JSON inside the wrappers models drift into (`<function_call>`, `<tools>`, `<response>`).
 */
export const hermes: ToolCallFormat = {
  name: 'hermes',
  blocks: [
    { open: '<tool_call>', close: ['</tool_call>'] },
    { open: '<function_call>', close: ['</function_call>'] },
    { open: '<tools>', close: ['</tools>'] },
    { open: '<response>', close: ['</response>'] },
  ],
  accepts: (payload) => /^\s*[[{]/.test(payload.slice(0, 64)),
  parseBlock(payload, { complete }) {
    const parsed = jsonCallsInSequence(payload);
    if ('error' in parsed) return noCall(parsed.error);
    if (payload.slice(parsed.end).trim() !== '') return noCall('text after the call JSON inside <tool_call>');
    const diagnostics = complete ? [] : ['</tool_call> was missing after a complete call; accepted'];
    if (parsed.repaired) diagnostics.push('repaired the call JSON (quotes, literals or trailing commas)');
    return { calls: parsed.calls, diagnostics };
  },
};
