import { describe, expect, it } from 'vitest';
import { CompletionAggregator, sanitizeRequest, ServerToolCalls, wholeAsEvents } from '../../../src/openai/index.js';
import { isUpstreamFailure, SseParser, UpstreamError } from '../../../src/upstream/index.js';

describe('SseParser', () => {
  it('splits frames across chunk boundaries, keeps comments apart, and recognises [DONE]', () => {
    const parser = new SseParser();
    const events = [
      ...parser.push(': keepalive 0/8\n\n: keep'),
      ...parser.push('alive 8/8\n\ndata: {"a"'),
      ...parser.push(': 1}\n\ndata: [DONE]\n\n'),
    ];
    expect(events).toEqual([
      { type: 'comment', text: 'keepalive 0/8' },
      { type: 'comment', text: 'keepalive 8/8' },
      { type: 'data', data: '{"a": 1}' },
      { type: 'done' },
    ]);
    expect(parser.end()).toEqual([]);
  });

  it('a last frame without its blank line still counts; an endless frame is refused', () => {
    const parser = new SseParser();
    expect(parser.push('data: [DONE]')).toEqual([]);
    expect(parser.end()).toEqual([{ type: 'done' }]);
    expect(() => new SseParser(16).push('data: ' + 'x'.repeat(32))).toThrow(RangeError);
  });
});

describe('sanitizeRequest', () => {
  it('drops nulls, hides the model, streams upstream with usage, clamps top_logprobs, spells floats', () => {
    const sanitized = sanitizeRequest({ model: 'gpt-4o', messages: [], stream: null, temperature: null, xtc_probability: 0, xtc_threshold: 1, top_p: 1 });
    expect(sanitized).toMatchObject({ clientModel: 'gpt-4o', clientStreams: false, clientWantsUsage: false, upstreamStreams: true });
    expect(sanitized.body).toBe('{"messages":[],"top_p":1,"stream":true,"stream_options":{"include_usage":true}, "xtc_probability": 0.0, "xtc_threshold": 1.0}');
    expect(JSON.parse(sanitized.body)).toEqual({ messages: [], top_p: 1, stream: true, stream_options: { include_usage: true }, xtc_probability: 0, xtc_threshold: 1 });
  });

  it('remembers what the client asked for; logprobs are never streamed upstream', () => {
    expect(sanitizeRequest({ messages: [], stream: true, stream_options: { include_usage: true } })).toMatchObject({ clientStreams: true, clientWantsUsage: true, upstreamStreams: true });
    const logprobs = sanitizeRequest({ messages: [], stream: true, logprobs: true, top_logprobs: 20, stream_options: { include_usage: true } });
    expect(logprobs.upstreamStreams).toBe(false);
    expect(JSON.parse(logprobs.body)).toEqual({ messages: [], stream: false, logprobs: true, top_logprobs: 11 });
  });

  it('lowers max_tokens and max_completion_tokens above the cap to it, and says what was asked; within it, nothing changes', () => {
    const capped = sanitizeRequest({ messages: [], max_tokens: 1e15, max_completion_tokens: 40_000 }, { maxTokens: 32_768 });
    expect(capped.maxTokensCapped).toEqual({ requested: 1e15, cap: 32_768 });
    expect(JSON.parse(capped.body)).toMatchObject({ max_tokens: 32_768, max_completion_tokens: 32_768 });
    const within = sanitizeRequest({ messages: [], max_tokens: 32_768 }, { maxTokens: 32_768 });
    expect(within.maxTokensCapped).toBeUndefined();
    expect(JSON.parse(within.body).max_tokens).toBe(32_768);
  });
});

describe('ServerToolCalls', () => {
  it('a call goes out whole once the next starts or the answer finishes; a whole call with the same index but its own id is another call', () => {
    const calls = new ServerToolCalls();
    expect(calls.take([{ index: 0, id: 'abc', type: 'function', function: { name: 'f', arguments: '' } }], false)).toEqual([]);
    expect(calls.take([{ index: 0, function: { arguments: '{"a": 1' } }, { index: 0, function: { arguments: '}' } }], false)).toEqual([]);
    expect(calls.take([{ index: 0, id: 'def', function: { name: 'g', arguments: '{"b": 2}' } }], false)).toEqual([{ id: 'abc', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }]);
    expect(calls.take(undefined, true)).toEqual([{ id: 'def', type: 'function', function: { name: 'g', arguments: '{"b":2}' } }]);
    // Argument text that is not (yet) an object stays as it came; no text at all is an empty object.
    expect(new ServerToolCalls().take([{ id: 'x', function: { name: 'h', arguments: '"quoted"' } }, { id: 'y', function: { name: 'h' } }], false)).toMatchObject([
      { function: { arguments: '"quoted"' } },
      { function: { arguments: '{}' } },
    ]);
  });
});

describe('CompletionAggregator', () => {
  it('rebuilds a chat completion from its chunks, tool calls without their stream index', () => {
    const aggregator = new CompletionAggregator('chat', 'my-model');
    const envelope = { id: 'chatcmpl-1', system_fingerprint: 'fp', object: 'chat.completion.chunk', model: 'stories260K', created: 7 };
    aggregator.add({ ...envelope, choices: [{ index: 0, finish_reason: null, delta: { role: 'assistant', reasoning: 'hm' } }] });
    aggregator.add({ ...envelope, choices: [{ index: 0, finish_reason: null, delta: { role: 'assistant', content: 'Hi' } }] });
    aggregator.add({ ...envelope, choices: [{ index: 0, finish_reason: null, delta: { role: 'assistant', tool_calls: [{ function: { name: 'f', arguments: '{}' }, type: 'function', id: 'u', index: 0 }] } }] });
    aggregator.add({ ...envelope, choices: [{ index: 0, finish_reason: 'tool_calls', delta: { role: 'assistant' } }] });
    aggregator.add({ ...envelope, object: 'chat.completion', choices: [], usage: { total_tokens: 3 } });
    expect(aggregator.result()).toEqual({
      id: 'chatcmpl-1',
      system_fingerprint: 'fp',
      object: 'chat.completion',
      model: 'stories260K', // the server's name for it, as its whole answer would say
      created: 7,
      choices: [{ index: 0, finish_reason: 'tool_calls', message: { role: 'assistant', content: 'Hi', reasoning: 'hm', tool_calls: [{ function: { name: 'f', arguments: '{}' }, type: 'function', id: 'u' }] } }],
      usage: { total_tokens: 3 },
    });
  });

  it('joins a call streamed in pieces (id and name first, then argument text under its index) into one', () => {
    const aggregator = new CompletionAggregator('chat', 'my-model');
    const piece = (call: Record<string, unknown>, finish: string | null = null) => aggregator.add({ id: 'c', choices: [{ index: 0, finish_reason: finish, delta: { tool_calls: [call] } }] });
    piece({ index: 0, id: 'abc', type: 'function', function: { name: 'f', arguments: '' } });
    piece({ index: 0, function: { arguments: '{"a": ' } });
    piece({ index: 0, function: { arguments: '"x}"}' } });
    piece({ index: 1, id: 'def', type: 'function', function: { name: 'g', arguments: '{}' } }, 'tool_calls');
    expect((aggregator.result().choices as Array<{ message: unknown }>)[0]!.message).toMatchObject({
      tool_calls: [
        { id: 'abc', type: 'function', function: { name: 'f', arguments: '{"a":"x}"}' } },
        { id: 'def', type: 'function', function: { name: 'g', arguments: '{}' } },
      ],
    });
  });

  it('names the model it was given when the chunks name none', () => {
    const aggregator = new CompletionAggregator('text', 'my-model');
    aggregator.add({ id: 'cmpl-1', choices: [{ index: 0, finish_reason: 'stop', text: 'Hi' }] });
    expect(aggregator.result()).toMatchObject({ model: 'my-model', choices: [{ text: 'Hi' }] });
  });
});

describe('failure classification', () => {
  it('5xx, stalls, resets and cut streams count; 4xx and caller aborts do not', () => {
    expect(isUpstreamFailure(new UpstreamError('ERR_UPSTREAM_STATUS', 'x', 503))).toBe(true);
    expect(isUpstreamFailure(new UpstreamError('ERR_UPSTREAM_STATUS', 'x', 404))).toBe(false);
    expect(isUpstreamFailure(new UpstreamError('ERR_UPSTREAM_STALL', 'x'))).toBe(true);
    expect(isUpstreamFailure(new UpstreamError('ERR_UPSTREAM_INCOMPLETE', 'x'))).toBe(true);
    expect(isUpstreamFailure(new DOMException('gone', 'AbortError'))).toBe(false);
  });
});

describe('wholeAsEvents', () => {
  it('a whole answer becomes the stream that would have carried it', () => {
    const whole = { id: 'x', object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, logprobs: { content: [] }, finish_reason: 'stop' }], usage: { completion_tokens: 1 } };
    const events = wholeAsEvents(whole, 'chat');
    expect(events.map((event) => (event.type === 'data' ? JSON.parse(event.data) : event))).toEqual([
      { id: 'x', object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: 'hi' }, logprobs: { content: [] }, finish_reason: 'stop' }] },
      { id: 'x', object: 'chat.completion.chunk', model: 'm', choices: [], usage: { completion_tokens: 1 } },
      { type: 'done' },
    ]);
  });
});
