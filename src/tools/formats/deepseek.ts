import { parseJsonLenient, skipSpace } from '../json-lenient.js';
import type { RawCall } from '../types.js';
import type { ToolCallFormat } from './format.js';
import { noCall } from './shared.js';

// U+FF5C "｜" and U+2581 "▁": an ASCII "|" never matches these markers.
const CALLS_BEGIN = '<｜tool▁calls▁begin｜>';
const CALLS_END = '<｜tool▁calls▁end｜>';
const CALL_BEGIN = '<｜tool▁call▁begin｜>';
const CALL_END = '<｜tool▁call▁end｜>';
const SEP = '<｜tool▁sep｜>';
/** R1 distills open the list with this instead, and may leave out each call's begin marker (llama.cpp reads both). */
const CALLS_BEGIN_DISTILL = '<｜tool▁calls｜>';

/**
 * DeepSeek V3 / R1: `<｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n{…}\n```<｜tool▁call▁end｜>`;
 * V3.1 / V3.2-Exp: `<｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{…}<｜tool▁call▁end｜>`; both inside
 * `<｜tool▁calls▁begin｜>…<｜tool▁calls▁end｜>` (R1 distills: `<｜tool▁calls｜>`, each call's begin
 * marker optional). The fence is part of the markup, not a mention.
 */
export const deepseek: ToolCallFormat = {
  name: 'deepseek',
  blocks: [
    { open: CALLS_BEGIN, close: [CALLS_END] },
    { open: CALLS_BEGIN_DISTILL, close: [CALLS_END] },
  ],
  parseBlock(payload, { open }) {
    const calls: RawCall[] = [];
    const beginOptional = open === CALLS_BEGIN_DISTILL;
    let at = beginOptional ? skipSpace(payload, 0) : payload.indexOf(CALL_BEGIN);
    while (at >= 0 && at < payload.length) {
      const end = payload.indexOf(CALL_END, at);
      if (end < 0) return noCall('a DeepSeek tool call is cut off (truncated)');
      // The call's own begin marker, looked for within the call only (a distill may leave it out).
      const marked = payload.slice(at, end);
      const begin = marked.indexOf(CALL_BEGIN);
      const call = begin >= 0 ? marked.slice(begin + CALL_BEGIN.length) : marked;
      const sep = call.indexOf(SEP);
      if (sep < 0) return noCall('a DeepSeek tool call without <｜tool▁sep｜>');
      const left = call.slice(0, sep).trim();
      let right = call.slice(sep + SEP.length);
      let name = left;
      if (left === 'function') {
        const newline = right.indexOf('\n');
        name = (newline >= 0 ? right.slice(0, newline) : right).trim();
        right = newline >= 0 ? right.slice(newline + 1) : '';
        const fenceStart = right.indexOf('```');
        const bodyStart = fenceStart >= 0 ? right.indexOf('\n', fenceStart) : -1;
        const fenceEnd = right.lastIndexOf('```');
        right = bodyStart >= 0 && fenceEnd > bodyStart ? right.slice(bodyStart + 1, fenceEnd) : right;
      }
      const parsed = parseJsonLenient(right.trim());
      if (!parsed.ok) return noCall(`the arguments of ${name} are not valid JSON: ${parsed.error}`);
      calls.push({ name, arguments: parsed.value, typed: true });
      at = beginOptional ? skipSpace(payload, end + CALL_END.length) : payload.indexOf(CALL_BEGIN, end);
    }
    return calls.length > 0 ? { calls } : noCall('no <｜tool▁call▁begin｜> inside the tool-calls block');
  },
};

const DSML_INVOKE = '<｜DSML｜invoke name="';
const DSML_INVOKE_END = '</｜DSML｜invoke>';
const DSML_PARAMETER = '<｜DSML｜parameter name="';
const DSML_PARAMETER_END = '</｜DSML｜parameter>';

/**
 * DeepSeek V3.2 / V4 DSML: `<｜DSML｜invoke name="f"><｜DSML｜parameter name="k" string="true">v</｜DSML｜parameter>…`.
 * `string="true"` values are raw text, `string="false"` values are JSON.
 */
export const deepseekDsml: ToolCallFormat = {
  name: 'deepseek_v32',
  blocks: [{ open: '<｜DSML｜function_calls>', close: ['</｜DSML｜function_calls>'] }],
  parseBlock(payload) {
    const calls: RawCall[] = [];
    let at = payload.indexOf(DSML_INVOKE);
    while (at >= 0) {
      const nameEnd = payload.indexOf('"', at + DSML_INVOKE.length);
      const end = payload.indexOf(DSML_INVOKE_END, at);
      if (nameEnd < 0 || end < 0) return noCall('a DSML invoke is cut off (truncated)');
      const name = payload.slice(at + DSML_INVOKE.length, nameEnd);
      const args: Record<string, unknown> = {};
      let typed = true;
      let p = payload.indexOf(DSML_PARAMETER, nameEnd);
      while (p >= 0 && p < end) {
        const keyEnd = payload.indexOf('"', p + DSML_PARAMETER.length);
        const tagEnd = payload.indexOf('>', keyEnd);
        const valueEnd = payload.indexOf(DSML_PARAMETER_END, tagEnd);
        if (keyEnd < 0 || tagEnd < 0 || valueEnd < 0 || valueEnd > end) return noCall(`a DSML parameter of ${name} is cut off`);
        const key = payload.slice(p + DSML_PARAMETER.length, keyEnd);
        const raw = payload.slice(tagEnd + 1, valueEnd);
        if (payload.slice(keyEnd, tagEnd).includes('string="false"')) {
          const parsed = parseJsonLenient(raw.trim());
          if (!parsed.ok) return noCall(`the DSML parameter ${key} of ${name} is not valid JSON`);
          args[key] = parsed.value;
        } else {
          args[key] = raw;
          typed = false;
        }
        p = payload.indexOf(DSML_PARAMETER, valueEnd);
      }
      calls.push({ name, arguments: args, typed });
      at = payload.indexOf(DSML_INVOKE, end);
    }
    return calls.length > 0 ? { calls } : noCall('no DSML invoke inside the function_calls block');
  },
};
