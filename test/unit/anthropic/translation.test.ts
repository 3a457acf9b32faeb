import { describe, expect, it } from 'vitest';
import { messagesRequest, stopReason, toChatRequest, toMessage, toUsage } from '../../../src/anthropic/index.js';

const read = (body: Record<string, unknown>) => messagesRequest.parse({ model: 'm', max_tokens: 16, ...body });
const translate = (body: Record<string, unknown>) => toChatRequest(read(body), { stream: false, maxTokens: 16 });

describe('a Messages request as a chat completion', () => {
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
    ['string content', { messages: [{ role: 'user', content: 'hi' }] }, { messages: [{ role: 'user', content: 'hi' }] }],
    ['system as a string', { system: 'be brief', messages: [{ role: 'user', content: 'hi' }] }, { messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }] }],
    [
      'system as text blocks (cache_control dropped)',
      { system: [{ type: 'text', text: 'a', cache_control: { type: 'ephemeral' } }, { type: 'text', text: 'b' }], messages: [{ role: 'user', content: 'hi' }] },
      { messages: [{ role: 'system', content: 'a\n\nb' }, { role: 'user', content: 'hi' }] },
    ],
    [
      'text blocks joined; a mid-conversation system message kept',
      { messages: [{ role: 'user', content: [{ type: 'text', text: 'one' }, { type: 'text', text: 'two' }] }, { role: 'system', content: 'note' }] },
      { messages: [{ role: 'user', content: 'one\n\ntwo' }, { role: 'system', content: 'note' }] },
    ],
    [
      'assistant text, thinking and tool_use; the tool_result (blocks, is_error) before the user\'s text',
      {
        messages: [
          { role: 'user', content: 'weather?' },
          { role: 'assistant', content: [{ type: 'thinking', thinking: 'need a tool', signature: 's' }, { type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
          { role: 'user', content: [{ type: 'text', text: 'and?' }, { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'rain' }], is_error: true }] },
        ],
      },
      {
        messages: [
          { role: 'user', content: 'weather?' },
          { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }], reasoning: 'need a tool' },
          { role: 'tool', tool_call_id: 'toolu_1', content: 'Error: rain' },
          { role: 'user', content: 'and?' },
        ],
      },
    ],
    [
      'a tool_result with string content alone; blocks with nothing for the model (redacted thinking, documents) dropped',
      { messages: [{ role: 'assistant', content: [{ type: 'redacted_thinking', data: 'x' }, { type: 'tool_use', id: 't', name: 'f', input: {} }] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: '42' }, { type: 'document', source: {} }] }] },
      { messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{}' } }] }, { role: 'tool', tool_call_id: 't', content: '42' }] },
    ],
    [
      'tools as functions, sampling passed on, thinking off for templates that know the switch',
      { messages: [{ role: 'user', content: 'hi' }], tools: [{ name: 'f', description: 'does f', input_schema: { type: 'object', properties: { a: { type: 'string' } } } }, { name: 'g' }], temperature: 0.2, top_p: 0.9, top_k: 40, thinking: { type: 'disabled' } },
      {
        messages: [{ role: 'user', content: 'hi' }],
        temperature: 0.2,
        top_p: 0.9,
        top_k: 40,
        tools: [
          { type: 'function', function: { name: 'f', description: 'does f', parameters: { type: 'object', properties: { a: { type: 'string' } } } } },
          { type: 'function', function: { name: 'g', parameters: { type: 'object', properties: {} } } },
        ],
        chat_template_kwargs: { enable_thinking: false },
      },
    ],
    ['tool_choice none: no tools offered', { messages: [{ role: 'user', content: 'hi' }], tools: [{ name: 'f' }], tool_choice: { type: 'none' } }, { messages: [{ role: 'user', content: 'hi' }] }],
  ];
  for (const [name, body, expected] of cases) {
    it(name, () => expect(translate(body)).toEqual({ max_tokens: 16, stream: false, ...expected }));
  }

  it('unknown fields are dropped; images are refused by name', () => {
    expect(read({ messages: [{ role: 'user', content: 'hi', x: 1 }], container: 'c', speed: 'fast' })).not.toHaveProperty('container');
    const refused = messagesRequest.safeParse({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: [{ type: 'image', source: {} }] }] });
    expect(refused.success).toBe(false);
    expect(JSON.stringify(refused.error?.issues)).toMatch(/image blocks are not supported/);
  });
});

describe('an answer as a Message', () => {
  it('reasoning, text and tool calls become thinking, text and tool_use blocks with toolu_ ids; usage counts cached input apart', () => {
    const completion = {
      choices: [{ index: 0, finish_reason: 'tool_calls', message: { role: 'assistant', reasoning: 'hm', content: 'Sure.', tool_calls: [{ id: 'call_abc', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }, { id: 'functions.f:1', type: 'function', function: { name: 'f', arguments: '{}' } }] } }],
      usage: { prompt_tokens: 10, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 4 } },
    };
    expect(toMessage(completion, 'my-model')).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'my-model',
      id: expect.stringMatching(/^msg_/),
      content: [
        { type: 'thinking', thinking: 'hm', signature: '' },
        { type: 'text', text: 'Sure.' },
        { type: 'tool_use', id: 'toolu_abc', name: 'f', input: { a: 1 } },
        { type: 'tool_use', id: 'toolu_functions_f_1', name: 'f', input: {} },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 6, output_tokens: 5, cache_read_input_tokens: 4, cache_creation_input_tokens: 0 },
    });
  });

  it('stop reasons', () => {
    const table: Array<[unknown, unknown, string]> = [
      ['stop', undefined, 'end_turn'],
      ['length', undefined, 'max_tokens'],
      ['tool_calls', undefined, 'tool_use'],
      ['content_filter', undefined, 'refusal'],
      ['stop', 'END', 'stop_sequence'],
      [null, undefined, 'end_turn'],
    ];
    for (const [finish, sequence, expected] of table) expect(stopReason(finish, sequence)).toBe(expected);
    expect(toUsage(undefined)).toEqual({ input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
  });
});
