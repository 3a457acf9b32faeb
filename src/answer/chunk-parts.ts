import type { StreamChunk } from '../openai/answers.js';

/** What a merged chunk carries, as the framings that rebuild an answer in items, blocks or lines read it. */
export interface ChunkParts {
  usage?: unknown;
  reasoning?: string;
  /** A chat delta's content, or a text completion's text. */
  content?: string;
  /** Whole calls (merged), each `{id, function: {name, arguments}}`. */
  calls: Array<Record<string, unknown>>;
  finishReason?: unknown;
  /** The stop sequence mlx-guard matched, with the finish. */
  stopSequence?: string;
}

/** The parts of one chunk; empty strings and null fields are left out. */
export function chunkParts(chunk: StreamChunk): ChunkParts {
  const parts: ChunkParts = { calls: [] };
  if (chunk.usage !== undefined && chunk.usage !== null) parts.usage = chunk.usage;
  const choice = ((chunk.choices as Array<Record<string, unknown>> | undefined) ?? [])[0];
  if (!choice) return parts;
  const delta = (choice.delta ?? {}) as Record<string, unknown>;
  if (typeof delta.reasoning === 'string' && delta.reasoning) parts.reasoning = delta.reasoning;
  const content = typeof delta.content === 'string' ? delta.content : choice.text;
  if (typeof content === 'string' && content) parts.content = content;
  parts.calls = (delta.tool_calls as Array<Record<string, unknown>> | undefined) ?? [];
  if (choice.finish_reason !== null && choice.finish_reason !== undefined) {
    parts.finishReason = choice.finish_reason;
    if (typeof choice.stop_sequence === 'string') parts.stopSequence = choice.stop_sequence;
  }
  return parts;
}
