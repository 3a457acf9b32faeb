import { deepseek, deepseekDsml } from './formats/deepseek.js';
import { functionary } from './formats/functionary.js';
import { gemma } from './formats/gemma.js';
import { glm } from './formats/glm.js';
import { harmony } from './formats/harmony.js';
import { hermes } from './formats/hermes.js';
import { minimaxM2, step3 } from './formats/invoke-xml.js';
import { apertus, commandR7b, granite, internlm2, nemotron, phi4Mini, toolCallsJson } from './formats/json-lists.js';
import { kimiK2 } from './formats/kimi.js';
import { llama3Json } from './formats/llama3.js';
import { mistral } from './formats/mistral.js';
import { pythonic } from './formats/pythonic.js';
import { qwen3Coder } from './formats/qwen3-coder.js';
import { ParserRegistry } from './registry.js';

export { callIdFor, newCallId } from './ids.js';
export { ParserRegistry } from './registry.js';
export type { StreamDelta, StreamingToolCallParser } from './streaming.js';
export type { ToolCallFormat, BlockContext } from './formats/format.js';
export type { BlockSpec } from './segmenter.js';
export type { BlockResult, JsonSchema, ParseOptions, ParseResult, RawCall, ToolCall, ToolDefinition } from './types.js';

/** Every built-in format, in the order a shared marker is offered to them. */
export const builtinFormats = [
  hermes,
  qwen3Coder,
  glm,
  llama3Json,
  pythonic,
  mistral,
  harmony,
  deepseek,
  deepseekDsml,
  kimiK2,
  minimaxM2,
  step3,
  functionary,
  granite,
  nemotron,
  internlm2,
  commandR7b,
  toolCallsJson,
  phi4Mini,
  apertus,
  gemma,
] as const;

export function createParserRegistry(): ParserRegistry {
  const registry = new ParserRegistry();
  for (const format of builtinFormats) registry.register(format);
  return registry;
}

/** The registry with every built-in format: `parserRegistry.parseWithFallback(text, options)`. */
export const parserRegistry = createParserRegistry();
