import type OpenAI from 'openai';
import { expect } from 'vitest';

/**
 * The chat request shape current OpenAI clients send (fields the model server does not read among
 * them), sent through `client`: served, the requested model echoed, the token limit kept; and a
 * field of the wrong type refused by name before it reaches the model server.
 */
export async function expectCurrentRequestShapesServed(client: OpenAI, model: string, messages: OpenAI.ChatCompletionMessageParam[]): Promise<void> {
  const current = await client.chat.completions.create({
    model: 'gpt-4o',
    messages: [{ role: 'developer', content: 'Tell a story.' }, ...messages],
    max_completion_tokens: 8,
    prompt_cache_key: 'session-1',
    store: false,
    parallel_tool_calls: true,
    response_format: { type: 'text' },
    stream_options: null,
  } as never);
  expect(current.model).toBe('gpt-4o');
  expect(current.usage?.completion_tokens).toBe(8);
  await expect(client.chat.completions.create({ model, messages, max_tokens: 'ten' } as never)).rejects.toMatchObject({ status: 400, error: { param: 'max_tokens' } });
}
