import type { BlockResult, RawCall } from '../types.js';
import type { ToolCallFormat } from './format.js';
import { noCall, tagValue } from './shared.js';

interface Tags {
  invoke: string;
  invokeEnd: string;
  parameter: string;
  parameterEnd: string;
}

/**
 * Calls as `<invoke name="f"><parameter name="k">v</parameter></invoke>` (with a prefix on the tag
 * names per family). Values are untyped text, typed by the declared schema.
 */
function readInvokes(payload: string, tags: Tags, what: string): BlockResult {
  const calls: RawCall[] = [];
  let at = payload.indexOf(tags.invoke);
  while (at >= 0) {
    const nameEnd = payload.indexOf('"', at + tags.invoke.length);
    const end = payload.indexOf(tags.invokeEnd, at);
    if (nameEnd < 0 || end < 0) return noCall(`a ${what} invoke is cut off (truncated)`);
    const name = payload.slice(at + tags.invoke.length, nameEnd);
    const args: Record<string, string> = {};
    let p = payload.indexOf(tags.parameter, nameEnd);
    while (p >= 0 && p < end) {
      const keyEnd = payload.indexOf('"', p + tags.parameter.length);
      const tagEnd = payload.indexOf('>', keyEnd);
      const valueEnd = payload.indexOf(tags.parameterEnd, tagEnd);
      if (keyEnd < 0 || tagEnd < 0 || valueEnd < 0 || valueEnd > end) return noCall(`a ${what} parameter of ${name} is cut off`);
      args[payload.slice(p + tags.parameter.length, keyEnd)] = tagValue(payload.slice(tagEnd + 1, valueEnd));
      p = payload.indexOf(tags.parameter, valueEnd);
    }
    calls.push({ name, arguments: args, typed: false });
    at = payload.indexOf(tags.invoke, end);
  }
  return calls.length > 0 ? { calls } : noCall(`no ${what} invoke inside the block`);
}

/** MiniMax-M2 / M2.1: `<minimax:tool_call><invoke name="f"><parameter name="k">v</parameter></invoke></minimax:tool_call>`. */
export const minimaxM2: ToolCallFormat = {
  name: 'minimax_m2',
  blocks: [{ open: '<minimax:tool_call>', close: ['</minimax:tool_call>'] }],
  parseBlock: (payload) => readInvokes(payload, { invoke: '<invoke name="', invokeEnd: '</invoke>', parameter: '<parameter name="', parameterEnd: '</parameter>' }, 'MiniMax'),
};

/**
 * StepFun Step-3: `<｜tool_calls_begin｜><｜tool_call_begin｜>function<｜tool_sep｜><steptml:invoke name="f">
 * <steptml:parameter name="k">v</steptml:parameter></steptml:invoke><｜tool_call_end｜><｜tool_calls_end｜>`
 * (U+FF5C "｜" with ASCII "_", unlike DeepSeek's).
 */
export const step3: ToolCallFormat = {
  name: 'step3',
  blocks: [{ open: '<｜tool_calls_begin｜>', close: ['<｜tool_calls_end｜>'] }],
  parseBlock: (payload) =>
    readInvokes(payload, { invoke: '<steptml:invoke name="', invokeEnd: '</steptml:invoke>', parameter: '<steptml:parameter name="', parameterEnd: '</steptml:parameter>' }, 'Step-3'),
};
