import type { RawCall } from '../types.js';
import type { ToolCallFormat } from './format.js';
import { noCall, tagValue } from './shared.js';

const FUNCTION = '<function=';
const PARAMETER = '<parameter=';

/**
 * Qwen3-Coder, Qwen3.5/3.6, and Seed-OSS (`<seed:tool_call>`):
 * `<tool_call><function=NAME><parameter=KEY>VALUE</parameter>…</function>`. Values are untyped
 * text (the schema types them). A value may hold text that looks like a closing tag (a file being
 * written): a parameter ends at the `</parameter>` that is followed by the next parameter or
 * `</function>`. A missing `</parameter>` ends at the next parameter or `</function>`; a bare
 * `<function=…>` without the wrapper is read too.
 */
export const qwen3Coder: ToolCallFormat = {
  name: 'qwen3_coder',
  blocks: [
    { open: '<tool_call>', close: ['</tool_call>'] },
    { open: '<seed:tool_call>', close: ['</seed:tool_call>'] },
    { open: FUNCTION, close: ['</function>'] },
  ],
  accepts: (payload, open) => open === FUNCTION ? !/^[^>]*>\s*\{/.test(payload.slice(0, 256)) : payload.trimStart().startsWith(FUNCTION),
  parseBlock(payload, { open, complete }) {
    const body = open === FUNCTION ? FUNCTION + payload + (complete ? '</function>' : '') : payload;
    const calls: RawCall[] = [];
    let at = body.indexOf(FUNCTION);
    while (at >= 0) {
      const nameEnd = body.indexOf('>', at);
      const end = nameEnd < 0 ? -1 : functionEnd(body, nameEnd + 1);
      if (nameEnd < 0 || end < 0) return noCall('the <function=…> block is cut off (truncated)');
      const name = body.slice(at + FUNCTION.length, nameEnd).trim();
      calls.push({ name, arguments: parameters(body.slice(nameEnd + 1, end)), typed: false });
      at = body.indexOf(FUNCTION, end);
    }
    if (calls.length === 0) return noCall('no <function=…> inside the block');
    return { calls, diagnostics: complete ? [] : [`the closing marker after <function=…> was missing; accepted`] };
  },
};

const CLOSE = '</parameter>';

/**
 * Finds the `</parameter>` that really ends a value: one followed (after whitespace) by the next
 * parameter, `</function>` or the end. Searches only forward and remembers its answer, so that
 * many parameters, or many lookalike tags, are read in linear time.
 */
class ValueEnds {
  #searchedFrom = -1;
  #found = -1;

  constructor(readonly body: string) {}

  /** The real `</parameter>` at or after `from`, or -1. */
  closeFrom(from: number): number {
    if (this.#searchedFrom >= 0 && from >= this.#searchedFrom && (this.#found < 0 || this.#found >= from)) return this.#found;
    let close = this.body.indexOf(CLOSE, from);
    while (close >= 0 && !/^\s*(<parameter=|<\/function>|$)/.test(this.body.slice(close + CLOSE.length, close + CLOSE.length + 64))) close = this.body.indexOf(CLOSE, close + 1);
    this.#searchedFrom = from;
    this.#found = close;
    return close;
  }
}

/** Where the function's `</function>` is: after its last parameter's value, not inside one. */
function functionEnd(body: string, from: number): number {
  const ends = new ValueEnds(body);
  let at = from;
  for (;;) {
    const close = body.indexOf('</function>', at);
    const parameter = body.indexOf(PARAMETER, at);
    if (parameter < 0 || (close >= 0 && close < parameter)) return close;
    const valueEnd = ends.closeFrom(parameter);
    if (valueEnd < 0) return close;
    at = valueEnd + CLOSE.length;
  }
}

function parameters(body: string): Record<string, string> {
  const args: Record<string, string> = {};
  const ends = new ValueEnds(body);
  let at = body.indexOf(PARAMETER);
  while (at >= 0) {
    const keyEnd = body.indexOf('>', at);
    if (keyEnd < 0) break;
    const key = body.slice(at + PARAMETER.length, keyEnd).trim();
    const close = ends.closeFrom(keyEnd);
    const next = body.indexOf(PARAMETER, keyEnd);
    // A next parameter before the real close means this one's `</parameter>` is missing.
    const valueEnd = close >= 0 && (next < 0 || close < next) ? close : next >= 0 ? next : body.length;
    args[key] = tagValue(body.slice(keyEnd + 1, valueEnd));
    at = body.indexOf(PARAMETER, valueEnd === close ? close + CLOSE.length : valueEnd);
  }
  return args;
}
