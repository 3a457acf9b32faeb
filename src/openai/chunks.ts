/** One data event of the model server's stream, parsed. */
export type StreamChunk = Record<string, unknown>;

/** A chat chunk with a choice and a delta: the part of a stream whose content tool parsing may change. */
export type ChatChunk = StreamChunk & { choices: [Record<string, unknown> & { delta: Record<string, unknown> }, ...unknown[]] };

export function isChatChunk(chunk: StreamChunk): chunk is ChatChunk {
  const choice = (chunk.choices as unknown[] | undefined)?.[0] as Record<string, unknown> | undefined;
  return typeof choice?.delta === 'object' && choice.delta !== null;
}
