import type { RawCall } from '../types.js';
import type { ToolCallFormat } from './format.js';
import { noCall, tagValue } from './shared.js';

const FUNCTION = '<function=';
const PARAMETER = '<parameter=';

/**
 * Qwen3-Coder, Qwen3.5/3.6: `<tool_call><function=NAME><parameter=KEY>VALUE</parameter>…</function>`.
 * Values are untyped text (the schema types them). A missing `</parameter>` ends at the next
 * parameter or `</function>`; a bare `<function=…>` without the wrapper is read too.
 */
export const qwen3Coder: ToolCallFormat = {
  name: 'qwen3_coder',
  blocks: [
    { open: '<tool_call>', close: ['</tool_call>'] },
    { open: FUNCTION, close: ['</function>'] },
  ],
  accepts: (payload, open) => open === FUNCTION ? !/^[^>]*>\s*\{/.test(payload.slice(0, 256)) : payload.trimStart().startsWith(FUNCTION),
  parseBlock(payload, { open, complete }) {
    const body = open === FUNCTION ? FUNCTION + payload + (complete ? '</function>' : '') : payload;
    const calls: RawCall[] = [];
    let at = body.indexOf(FUNCTION);
    while (at >= 0) {
      const nameEnd = body.indexOf('>', at);
      const end = body.indexOf('</function>', at);
      if (nameEnd < 0 || end < 0) return noCall('the <function=…> block is cut off (truncated)');
      const name = body.slice(at + FUNCTION.length, nameEnd).trim();
      calls.push({ name, arguments: parameters(body.slice(nameEnd + 1, end)), typed: false });
      at = body.indexOf(FUNCTION, end);
    }
    if (calls.length === 0) return noCall('no <function=…> inside the block');
    return { calls, diagnostics: complete ? [] : [`the closing marker after <function=…> was missing; accepted`] };
  },
};

function parameters(body: string): Record<string, string> {
  const args: Record<string, string> = {};
  let at = body.indexOf(PARAMETER);
  // The next "</parameter>", searched again only once passed: many unclosed parameters stay linear.
  let close = -2;
  while (at >= 0) {
    const keyEnd = body.indexOf('>', at);
    if (keyEnd < 0) break;
    const key = body.slice(at + PARAMETER.length, keyEnd).trim();
    if (close !== -1 && close < keyEnd) close = body.indexOf('</parameter>', keyEnd);
    const next = body.indexOf(PARAMETER, keyEnd);
    const valueEnd = close >= 0 && (next < 0 || close < next) ? close : next >= 0 ? next : body.length;
    args[key] = tagValue(body.slice(keyEnd + 1, valueEnd));
    at = next;
  }
  return args;
}
