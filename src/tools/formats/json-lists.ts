import { parseJsonLenient, scanValueEnd, skipSpace } from '../json-lenient.js';
import { isPlainObject } from '../schema.js';
import type { BlockSpec } from '../segmenter.js';
import type { BlockResult, RawCall } from '../types.js';
import type { ToolCallFormat } from './format.js';
import { jsonCallsInSequence, noCall } from './shared.js';

/** A block with no end marker: it ends where the JSON value after the marker does. */
const untilValueEnd = (open: string, valueStartsInMarker = false): BlockSpec => ({
  open,
  end(text, from) {
    const start = valueStartsInMarker ? from - 1 : skipSpace(text, from);
    if (text[start] !== '[' && text[start] !== '{') return -1;
    return scanValueEnd(text, start);
  },
});

/** The JSON calls of a block: objects or lists of {name, arguments|parameters} (and the other shapes `callFromObject` knows). */
function readCalls(payload: string, marker: string): BlockResult {
  const parsed = jsonCallsInSequence(payload);
  if ('error' in parsed) return noCall(`${marker}: ${parsed.error}`);
  if (payload.slice(parsed.end).trim() !== '') return noCall(`text after the call JSON inside ${marker}`);
  return { calls: parsed.calls, diagnostics: parsed.repaired ? ['repaired the call JSON (quotes, literals or trailing commas)'] : [] };
}

/** A format whose calls are JSON between two markers (or after one, up to the JSON's end). */
function jsonBetween(name: string, spec: BlockSpec, describe: string): ToolCallFormat {
  return { name, blocks: [spec], parseBlock: (payload, { complete }) => (complete ? readCalls(payload, describe) : noCall(`the ${describe} block is cut off (truncated)`)) };
}

/** Granite 3.x: `<|tool_call|>[{"name": …, "arguments": {…}}]`, with no end marker. */
export const granite = jsonBetween('granite', untilValueEnd('<|tool_call|>'), '<|tool_call|>');

/** Nemotron Nano v2: `<TOOLCALL>[{…}]</TOOLCALL>`. */
export const nemotron = jsonBetween('nemotron', { open: '<TOOLCALL>', close: ['</TOOLCALL>'] }, '<TOOLCALL>');

/** InternLM2 / 2.5: `<|action_start|><|plugin|>{"name": …, "parameters": {…}}<|action_end|>`. */
export const internlm2 = jsonBetween('internlm2', { open: '<|action_start|><|plugin|>', close: ['<|action_end|>'] }, '<|action_start|><|plugin|>');

/** Cohere Command R7B: `<|START_ACTION|>[{"tool_call_id": "0", "tool_name": …, "parameters": {…}}]<|END_ACTION|>`. */
export const commandR7b = jsonBetween('command_r7b', { open: '<|START_ACTION|>', close: ['<|END_ACTION|>'] }, '<|START_ACTION|>');

/** Jamba and MiniMax-M1: `<tool_calls>[{…}]</tool_calls>`, or one JSON object a line. */
export const toolCallsJson = jsonBetween('tool_calls_json', { open: '<tool_calls>', close: ['</tool_calls>'] }, '<tool_calls>');

/** Phi-4-mini: `functools[{…}, {…}]`, with no end marker (the bracket belongs to the marker, so that the word alone is text). */
export const phi4Mini: ToolCallFormat = {
  name: 'phi4_mini',
  blocks: [untilValueEnd('functools[', true)],
  parseBlock: (payload, { complete }) => (complete ? readCalls(`[${payload}`, 'functools[…]') : noCall('the functools[…] list is cut off (truncated)')),
};

/** Swiss AI Apertus: `<|tools_prefix|>[{"NAME": {…arguments…}}, …]<|tools_suffix|>`, a short form with the name as the key. */
export const apertus: ToolCallFormat = {
  name: 'apertus',
  blocks: [{ open: '<|tools_prefix|>', close: ['<|tools_suffix|>'] }],
  parseBlock(payload, { complete }) {
    if (!complete) return noCall('the <|tools_prefix|> list is cut off (truncated)');
    const parsed = parseJsonLenient(payload.trim());
    if (!parsed.ok) return noCall(`the <|tools_prefix|> list is not valid JSON: ${parsed.error}`);
    const items = Array.isArray(parsed.value) ? parsed.value : [parsed.value];
    const calls: RawCall[] = [];
    for (const item of items) {
      const entries = isPlainObject(item) ? Object.entries(item) : [];
      if (entries.length !== 1) return noCall('an Apertus call is an object with one key, the tool name');
      const [name, args] = entries[0]!;
      calls.push({ name, arguments: args, typed: true });
    }
    return calls.length > 0 ? { calls } : noCall('no call in the <|tools_prefix|> list');
  },
};
