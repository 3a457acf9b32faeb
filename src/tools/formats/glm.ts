import { parseJsonLenient } from '../json-lenient.js';
import { isPlainObject } from '../schema.js';
import type { ToolCallFormat } from './format.js';
import { noCall } from './shared.js';

/**
 * GLM-4.5 to 4.7 and 5: `<tool_call>NAME<arg_key>k</arg_key><arg_value>v</arg_value>…</tool_call>`
 * (4.5/4.6 put newlines between). Values are untyped text; a value declared as a string is never
 * coerced. Without arg tags: `NAME\n{json}`, or a call with no arguments.
 */
export const glm: ToolCallFormat = {
  name: 'glm',
  blocks: [{ open: '<tool_call>', close: ['</tool_call>'] }],
  accepts: (payload) => !/^\s*([[{]|<function=)/.test(payload.slice(0, 64)),
  parseBlock(payload, { complete }) {
    if (!complete) return noCall('the <tool_call> block is cut off (truncated)');
    const firstKey = payload.indexOf('<arg_key>');
    const head = firstKey >= 0 ? payload.slice(0, firstKey) : payload;
    const newline = head.indexOf('\n', head.search(/\S/) + 1);
    const name = (newline >= 0 ? head.slice(0, newline) : head).trim();
    if (!/^[\w.\-:]+$/.test(name)) return noCall('no tool name at the start of the <tool_call> block');
    if (firstKey < 0) {
      const rest = newline >= 0 ? head.slice(newline).trim() : '';
      if (rest === '') return { calls: [{ name, arguments: {}, typed: true }] };
      const parsed = parseJsonLenient(rest);
      if (!parsed.ok || !isPlainObject(parsed.value)) return noCall('the arguments after the tool name are not a JSON object');
      return { calls: [{ name, arguments: parsed.value, typed: true }] };
    }
    const args: Record<string, string> = {};
    let at = firstKey;
    while (at >= 0) {
      const keyEnd = payload.indexOf('</arg_key>', at);
      const valueStart = payload.indexOf('<arg_value>', keyEnd);
      const valueEnd = payload.indexOf('</arg_value>', valueStart);
      if (keyEnd < 0 || valueStart < 0 || valueEnd < 0) return noCall('an <arg_key>/<arg_value> pair is cut off');
      // Whitespace inside a value is the value's own: it is not trimmed.
      args[payload.slice(at + '<arg_key>'.length, keyEnd).trim()] = payload.slice(valueStart + '<arg_value>'.length, valueEnd);
      at = payload.indexOf('<arg_key>', valueEnd);
    }
    return { calls: [{ name, arguments: args, typed: false }] };
  },
};
