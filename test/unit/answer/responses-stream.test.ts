import { describe, expect, it } from 'vitest';
import { ResponsesStreamFraming } from '../../../src/answer/index.js';
import type { StreamChunk } from '../../../src/openai/index.js';
import { chatChunk, everyPart, framed, typedEvents } from '../../support/framing.js';
import { ResponseShape, responsesRequest } from '../../../src/responses/index.js';

const parse = typedEvents;
const chunk = chatChunk;
const responses = () => framed(new ResponsesStreamFraming(new ResponseShape(responsesRequest.parse({ model: 'm', input: 'x', tools: [{ type: 'function', name: 'f' }] }))));

describe('a stream as Responses API events', () => {
  it('created, in progress, each item added, its part, deltas and done events in order, then completed with the whole response', () => {
    const stream = responses();
    const events = parse(everyPart(stream));
    expect(events.map((e) => [e.type, e.output_index ?? null])).toEqual([
      ['response.created', null],
      ['response.in_progress', null],
      ['response.output_item.added', 0],
      ['response.content_part.added', 0],
      ['response.reasoning_text.delta', 0],
      ['response.reasoning_text.delta', 0],
      ['response.reasoning_text.done', 0],
      ['response.content_part.done', 0],
      ['response.output_item.done', 0],
      ['response.output_item.added', 1],
      ['response.content_part.added', 1],
      ['response.output_text.delta', 1],
      ['response.output_text.delta', 1],
      ['response.output_text.done', 1],
      ['response.content_part.done', 1],
      ['response.output_item.done', 1],
      ['response.output_item.added', 2],
      ['response.function_call_arguments.delta', 2],
      ['response.function_call_arguments.done', 2],
      ['response.output_item.done', 2],
      ['response.completed', null],
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events[13]).toMatchObject({ text: 'Sure.' });
    expect(events[18]).toMatchObject({ name: 'f', arguments: '{"a":1}' });
    const completed = events.at(-1)!.response as Record<string, unknown>;
    expect(completed).toMatchObject({ status: 'completed', usage: { input_tokens: 7, output_tokens: 9 } });
    expect((completed.output as Array<{ type: string }>).map((item) => item.type)).toEqual(['reasoning', 'message', 'function_call']);
  });

  it('a failure after the stream began ends it with response.failed; a replay goes on numbering where the first attempt stopped', () => {
    const stream = responses();
    const begun = parse(stream.framing.begin());
    expect(stream.framing.hasContent).toBe(false);
    const replay = stream.framing.again();
    expect(replay.begin()).toBe('');
    const failed = parse(replay.chunk(chunk({ content: 'Hi' }) as StreamChunk) + replay.error('upstream_error', 'the model server dropped the connection'));
    expect(failed.map((e) => e.sequence_number)).toEqual(failed.map((_, i) => begun.length + i));
    expect(failed.at(-1)).toMatchObject({ type: 'response.failed', response: { status: 'failed', error: { code: 'upstream_error', message: 'the model server dropped the connection' } } });
    expect((failed.at(-1)!.response as { output: unknown[] }).output).toHaveLength(1);
  });

  it("a prefill keepalive is its comment and a keepalive event (Codex's idle clock counts events, not comments); a note is a comment", () => {
    const { framing } = responses();
    const begun = parse(framing.begin()).length;
    expect(framing.comment('keepalive 3/9')).toBe(`: keepalive 3/9\n\nevent: keepalive\ndata: {"type":"keepalive","sequence_number":${begun}}\n\n`);
    expect(framing.note('replayed')).toBe(': mlx-guard: replayed\n\n');
  });
});
