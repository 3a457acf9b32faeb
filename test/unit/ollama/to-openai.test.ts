import { describe, expect, it } from 'vitest';
import { chatRequest, chatToOpenAi, generateRequest, generateToOpenAi } from '../../../src/ollama/index.js';

const chat = (body: Record<string, unknown>) => chatToOpenAi(chatRequest.parse({ model: 'qwen2.5-coder:7b', ...body }));

describe('an Ollama chat as a chat completion', () => {
  it('turns tool calls (arguments as objects) into calls with ids and JSON text, and ties each result to its call', () => {
    const { fields } = chat({
      messages: [
        { role: 'user', content: 'weather in Oslo and Rome?' },
        {
          role: 'assistant',
          content: '',
          tool_calls: [
            { function: { name: 'get_weather', arguments: { city: 'Oslo' } } },
            { function: { name: 'get_time', arguments: { city: 'Rome' } } },
          ],
        },
        { role: 'tool', content: '14:00', tool_name: 'get_time' },
        { role: 'tool', content: '3 °C' },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
    });
    const messages = fields.messages as Array<Record<string, unknown>>;
    expect(messages[1]).toEqual({
      role: 'assistant',
      content: '',
      tool_calls: [
        { id: 'call_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
        { id: 'call_1', type: 'function', function: { name: 'get_time', arguments: '{"city":"Rome"}' } },
      ],
    });
    // By its tool's name, then the one left.
    expect(messages[2]).toEqual({ role: 'tool', content: '14:00', tool_call_id: 'call_1', name: 'get_time' });
    expect(messages[3]).toEqual({ role: 'tool', content: '3 °C', tool_call_id: 'call_0' });
    expect(fields.tools).toEqual([{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }]);
  });

  it('keeps a tool_call_id and a call id the client gave (Ollama 0.12), and thinking as reasoning', () => {
    const { fields } = chat({
      messages: [
        { role: 'assistant', content: 'x', thinking: 'let me see', tool_calls: [{ id: 'call_abc', function: { name: 'f', arguments: {} } }] },
        { role: 'tool', content: 'ok', tool_call_id: 'call_abc' },
      ],
    });
    expect(fields.messages).toEqual([
      { role: 'assistant', content: 'x', reasoning: 'let me see', tool_calls: [{ id: 'call_abc', type: 'function', function: { name: 'f', arguments: '{}' } }] },
      { role: 'tool', content: 'ok', tool_call_id: 'call_abc' },
    ]);
  });

  it('maps the options the model server has a counterpart for, and names the others as dropped', () => {
    const translated = chat({
      messages: [{ role: 'user', content: 'hi' }],
      options: { num_predict: 64, temperature: 0.2, top_p: 0.9, top_k: 40, min_p: 0.05, seed: 7, stop: ['\n\n'], repeat_penalty: 1.1, repeat_last_n: 64, num_ctx: 32768, mirostat: 1 },
    });
    expect(translated.fields).toMatchObject({ stream: true, max_tokens: 64, temperature: 0.2, top_p: 0.9, top_k: 40, min_p: 0.05, seed: 7, stop: ['\n\n'], repetition_penalty: 1.1, repetition_context_size: 64 });
    expect(translated.fields).not.toHaveProperty('num_ctx');
    expect(translated.dropped).toEqual(['options.num_ctx', 'options.mirostat']);
    // "No limit" and "fill the context", and no num_predict at all, leave the length to the configured maximum.
    const configured = (options?: Record<string, unknown>) => chatToOpenAi(chatRequest.parse({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...(options ? { options } : {}) }), 32_768).fields.max_tokens;
    expect([configured({ num_predict: -1 }), configured({ num_predict: -2 }), configured()]).toEqual([32_768, 32_768, 32_768]);
    expect(configured({ num_predict: 100 })).toBe(100);
  });

  it('passes format on as response_format, think as the template switch, and streams unless stream is false', () => {
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] };
    expect(chat({ messages: [{ role: 'user', content: 'hi' }], format: schema, stream: false }).fields).toMatchObject({ stream: false, response_format: { type: 'json_schema', json_schema: { name: 'format', schema } } });
    expect(chat({ messages: [{ role: 'user', content: 'hi' }], format: 'json', think: false }).fields).toMatchObject({ response_format: { type: 'json_object' }, chat_template_kwargs: { enable_thinking: false } });
    expect(chat({ messages: [{ role: 'user', content: 'hi' }], think: 'high' }).fields).toMatchObject({ chat_template_kwargs: { enable_thinking: true } });
    expect(chat({ messages: [{ role: 'user', content: 'hi' }], format: '' }).fields).not.toHaveProperty('response_format');
  });

  it('refuses images by name, and a wrongly typed option with its path', () => {
    const images = chatRequest.safeParse({ model: 'm', messages: [{ role: 'user', content: 'what is this?', images: ['aGVsbG8='] }] });
    expect(images.success).toBe(false);
    expect(images.error!.issues[0]).toMatchObject({ path: ['messages', 0, 'images'], message: expect.stringMatching(/images are not supported/) });
    const option = chatRequest.safeParse({ model: 'm', messages: [], options: { temperature: 'hot' } });
    expect(option.error!.issues[0]!.path).toEqual(['options', 'temperature']);
    // An empty list of images is no image.
    expect(chatRequest.safeParse({ model: 'm', messages: [{ role: 'user', content: 'hi', images: [] }] }).success).toBe(true);
  });
});

describe('an Ollama generate as a completion', () => {
  it('is a chat of the system and the prompt, so that the model’s template applies', () => {
    const { fields, raw, dropped } = generateToOpenAi(generateRequest.parse({ model: 'm', prompt: 'why is the sky blue?', system: 'be brief', context: [1, 2, 3], options: { num_predict: 10 } }));
    expect(raw).toBe(false);
    expect(fields).toMatchObject({ messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'why is the sky blue?' }], max_tokens: 10, stream: true });
    expect(dropped).toEqual(['context']);
  });

  it('with raw, is a text completion of the prompt as it is', () => {
    const { fields, raw } = generateToOpenAi(generateRequest.parse({ model: 'm', prompt: '<s>[INST] hi [/INST]', raw: true, stream: false, think: true }));
    expect(raw).toBe(true);
    expect(fields).toEqual({ prompt: '<s>[INST] hi [/INST]', stream: false });
  });
});
