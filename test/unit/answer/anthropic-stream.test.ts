import { describe, expect, it } from 'vitest';
import { AnswerStream, AnthropicStreamFraming } from '../../../src/answer/index.js';
import type { ParsedContent, StreamChunk } from '../../../src/openai/index.js';

describe('a stream as Anthropic events', () => {
  const parse = (text: string) =>
    text
      .split('\n\n')
      .filter(Boolean)
      .map((frame) => {
        const [eventLine, dataLine] = frame.split('\n');
        const data = JSON.parse(dataLine!.slice('data: '.length)) as Record<string, unknown>;
        expect(eventLine).toBe(`event: ${data.type as string}`);
        return data;
      });
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({ choices: [{ index: 0, delta, finish_reason: finish }] });

  /** Merged, then framed: the pipeline's last two steps. */
  const anthropic = () => {
    const answer = new AnswerStream(new AnthropicStreamFraming('m'));
    return { framing: answer.framing, chunk: (c: StreamChunk, parsed?: ParsedContent) => answer.event({ type: 'chunk', chunk: c }, parsed) };
  };

  it('one block at a time, indexes in start order, the stop reason and usage in message_delta, then message_stop', () => {
    const stream = anthropic();
    const text = [
      stream.framing.begin(),
      stream.chunk(chunk({ role: 'assistant', reasoning: 'let me ' })),
      stream.chunk(chunk({ reasoning: 'think' })),
      stream.chunk(chunk({ content: 'Sure' })),
      stream.chunk(chunk({ content: '. <tool_call>…' }), { content: '.', calls: [{ id: 'call_1', name: 'f', arguments: { a: 1 } }] }),
      stream.chunk(chunk({}, 'tool_calls')),
      stream.chunk({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 9 } }),
      stream.framing.end(),
    ].join('');
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
