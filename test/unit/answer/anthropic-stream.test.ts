import { describe, expect, it } from 'vitest';
import { AnthropicStreamFraming } from '../../../src/answer/index.js';
import { chatChunk, everyPart, framed, typedEvents } from '../../support/framing.js';

describe('a stream as Anthropic events', () => {
  const parse = typedEvents;
  const chunk = chatChunk;

  const anthropic = () => framed(new AnthropicStreamFraming('m'));

  it('one block at a time, indexes in start order, the stop reason and usage in message_delta, then message_stop', () => {
    const stream = anthropic();
    const text = everyPart(stream);
    const events = parse(text);
    expect(events.map((e) => [e.type, e.index ?? null])).toEqual([
      ['message_start', null],
      ['content_block_start', 0],
      ['content_block_delta', 0],
      ['content_block_delta', 0],
      ['content_block_stop', 0],
      ['content_block_start', 1],
      ['content_block_delta', 1],
      ['content_block_delta', 1],
      ['content_block_stop', 1],
      ['content_block_start', 2],
      ['content_block_delta', 2],
      ['content_block_stop', 2],
      ['message_delta', null],
      ['message_stop', null],
    ]);
    expect(events[0]).toMatchObject({ message: { model: 'm', content: [], usage: { input_tokens: 0, output_tokens: 0 } } });
    expect(events[9]).toMatchObject({ content_block: { type: 'tool_use', id: 'toolu_1', name: 'f', input: {} } });
    expect(events[10]).toMatchObject({ delta: { type: 'input_json_delta', partial_json: '{"a":1}' } });
    expect(events[12]).toMatchObject({ delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { input_tokens: 7, output_tokens: 9 } });
    expect(stream.framing.end()).toBe('');
  });

  it('a stop sequence ends it with stop_sequence; without a usage chunk each content chunk counts as a token', () => {
    const stream = anthropic();
    const events = parse([stream.framing.begin(), stream.chunk(chunk({ content: 'a' })), stream.chunk(chunk({ content: 'b' })), stream.chunk({ choices: [{ index: 0, delta: { content: '' }, finish_reason: 'stop', stop_sequence: 'END' }] }), stream.framing.end()].join(''));
    expect(events.at(-2)).toMatchObject({ type: 'message_delta', delta: { stop_reason: 'stop_sequence', stop_sequence: 'END' }, usage: { output_tokens: 2 } });
  });

  it('an error after the stream began closes the open block, then says so', () => {
    const stream = anthropic();
    const events = parse([stream.framing.begin(), stream.chunk(chunk({ content: 'a' })), stream.framing.error('model_server_restarting', 'the model server restarted')].join(''));
    expect(events.slice(-2)).toMatchObject([{ type: 'content_block_stop', index: 0 }, { type: 'error', error: { type: 'overloaded_error', message: 'the model server restarted' } }]);
  });
});
