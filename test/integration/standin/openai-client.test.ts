// The official openai npm client, as a real client, against the stand-in.
import OpenAI from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import { startStandin } from '../../support/processes.js';

const MODEL = 'mlx-community/Demo-Model-4bit';
let client: OpenAI;

beforeAll(async () => {
  const standin = await startStandin(['--model', MODEL]);
  client = new OpenAI({ baseURL: `${standin.baseUrl}/v1`, apiKey: 'not-needed', maxRetries: 0, timeout: 10_000 });
});

describe('the openai client against the stand-in', () => {
  it('chat, non-streaming', async () => {
    const completion = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hello' }], max_tokens: 5 });
    expect(completion.choices[0]!.message.content).toMatch(/\w/);
    expect(completion.choices[0]!.finish_reason).toBe('length');
    expect(completion.usage?.completion_tokens).toBe(5);
  });

  it('chat, streaming, with usage', async () => {
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hello' }],
      max_tokens: 5,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish: string | null | undefined;
    let completionTokens: number | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      completionTokens = chunk.usage?.completion_tokens ?? completionTokens;
    }
    expect(text.split(' ').length).toBe(5);
    expect(finish).toBe('length');
    expect(completionTokens).toBe(5);
  });

  it('chat with tools: a parsed tool call', async () => {
    const completion = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }],
    });
    const call = completion.choices[0]!.message.tool_calls?.[0];
    expect(completion.choices[0]!.finish_reason).toBe('tool_calls');
    expect(call?.type === 'function' && call.function.name).toBe('get_weather');
    expect(call?.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ city: 'Paris' });
  });

  it('text completions', async () => {
    const completion = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 4 });
    expect(completion.choices[0]!.text.trim().split(' ')).toHaveLength(4);
    expect(completion.object).toBe('text_completion');
  });

  it('a model name the server does not have: a 404 the client reports as NotFoundError', async () => {
    await expect(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});
