// Helpers for the framing tests of the APIs whose streams are typed events (`event: T` then `data: {"type": T, …}`).
import { expect } from 'vitest';
import { AnswerStream, type StreamFraming } from '../../src/answer/index.js';
import type { ParsedContent, StreamChunk } from '../../src/openai/index.js';

/** The events of a typed-event stream, each checked to name its type on both lines; comments skipped. */
export const typedEvents = (text: string) =>
  text
    .split('\n\n')
    .filter((frame) => frame !== '' && !frame.startsWith(':'))
    .map((frame) => {
      const [eventLine, dataLine] = frame.split('\n');
      const data = JSON.parse(dataLine!.slice('data: '.length)) as Record<string, unknown>;
      expect(eventLine).toBe(`event: ${data.type as string}`);
      return data;
    });

/** A chat chunk with one choice. */
export const chatChunk = (delta: Record<string, unknown>, finish: string | null = null) => ({ choices: [{ index: 0, delta, finish_reason: finish }] });

/** Merged, then framed: the pipeline's last two steps. */
export function framed(framing: StreamFraming) {
  const answer = new AnswerStream(framing);
  return { framing: answer.framing, chunk: (c: StreamChunk, parsed?: ParsedContent) => answer.event({ type: 'chunk', chunk: c }, parsed) };
}

/** One answer with every part, framed: reasoning over two chunks, text, a call parsed out of the content, the finish, usage. */
export function everyPart(stream: ReturnType<typeof framed>): string {
  return [
    stream.framing.begin(),
    stream.chunk(chatChunk({ role: 'assistant', reasoning: 'let me ' })),
    stream.chunk(chatChunk({ reasoning: 'think' })),
    stream.chunk(chatChunk({ content: 'Sure' })),
    stream.chunk(chatChunk({ content: '. <tool_call>…' }), { content: '.', calls: [{ id: 'call_1', name: 'f', arguments: { a: 1 } }] }),
    stream.chunk(chatChunk({}, 'tool_calls')),
    stream.chunk({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 9 } }),
    stream.framing.end(),
  ].join('');
}
