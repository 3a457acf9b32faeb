// The Messages API with the official @anthropic-ai/sdk against mlx-guard and the stand-in.
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { until } from '../support/processes.js';
import { statusRecordingFetch } from '../support/recording-proxy.js';
import { startSidecar } from '../support/sidecar.js';

const model = 'qwen3-local';
const weather = [{ name: 'get_weather', description: 'the weather in a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } }];
const clientFor = (url: string, maxRetries = 0) => new Anthropic({ baseURL: url, apiKey: 'not-needed', maxRetries, timeout: 15_000 });
/** Content without the ids that differ from call to call. */
const withoutIds = (content: Anthropic.ContentBlock[]) => content.map((block) => (block.type === 'tool_use' ? { ...block, id: 'x' } : block));

describe('the Messages API through the official SDK', () => {
  it('a plain message, a system prompt, a multi-turn conversation: text, end_turn, the requested model, Anthropic ids and usage', async () => {
    const { url } = await startSidecar();
    const client = clientFor(url);
    const plain = await client.messages.create({ model, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
    expect(plain).toMatchObject({ type: 'message', role: 'assistant', model, stop_reason: 'end_turn', stop_sequence: null, content: [{ type: 'text', text: expect.stringMatching(/\w/) }] });
    expect(plain.id).toMatch(/^msg_/);
    expect(plain.usage.input_tokens + (plain.usage.cache_read_input_tokens ?? 0)).toBeGreaterThan(0);
    expect(plain.usage.output_tokens).toBeGreaterThan(0);

    const withSystem = await client.messages.create({ model, max_tokens: 64, system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }], messages: [{ role: 'user', content: 'hi' }] });
    expect(withSystem.content[0]).toMatchObject({ type: 'text' });
    // A different prompt: the stand-in's answer depends on every message, so the system prompt reached it.
    expect(withSystem.content).not.toEqual(plain.content);

    const conversation = await client.messages.create({
      model,
      max_tokens: 64,
      tools: weather,
      messages: [
        { role: 'user', content: 'weather in Paris?' },
        { role: 'assistant', content: [{ type: 'text', text: 'Let me check.' }, { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: [{ type: 'text', text: '18 °C, sunny' }] }, { type: 'text', text: 'thanks' }] },
      ],
    });
    expect(conversation.stop_reason).toMatch(/end_turn|tool_use/);
  });

  it('tool calls, the model server\'s own and those mlx-guard parses out of raw markup: tool_use blocks with toolu_ ids, stop_reason tool_use, streamed the same', async () => {
    const { url, faults } = await startSidecar();
    const client = clientFor(url);
    for (const mode of ['parsed', 'pieces', 'raw:hermes', 'raw:qwen3_coder', 'raw:mistral']) {
      await faults({ tool_calls: mode });
      const message = await client.messages.create({ model, max_tokens: 64, tools: weather, messages: [{ role: 'user', content: 'weather in Paris?' }] });
      expect(message.stop_reason, mode).toBe('tool_use');
      const call = message.content.find((block) => block.type === 'tool_use');
      expect(call, mode).toMatchObject({ type: 'tool_use', id: expect.stringMatching(/^toolu_/), name: 'get_weather', input: { city: 'Paris' } });
      expect(message.content.filter((block) => block.type === 'text' && /tool_call|TOOL_CALLS|function=/.test(block.text)), mode).toEqual([]);
      const streamed = await client.messages.stream({ model, max_tokens: 64, tools: weather, messages: [{ role: 'user', content: 'weather in Paris?' }] }).finalMessage();
      expect(streamed.stop_reason, mode).toBe('tool_use');
      expect(withoutIds(streamed.content), mode).toEqual(withoutIds(message.content));
    }
  });

  it('thinking blocks from the model server\'s reasoning; streaming with the SDK\'s helpers gives the same final message', async () => {
    const { url } = await startSidecar({}, ['--reasoning-tokens', '5']);
    const client = clientFor(url);
    const whole = await client.messages.create({ model, max_tokens: 64, messages: [{ role: 'user', content: 'think first' }] });
    expect(whole.content.map((block) => block.type)).toEqual(['thinking', 'text']);
    const stream = client.messages.stream({ model, max_tokens: 64, messages: [{ role: 'user', content: 'think first' }] });
    const events: string[] = [];
    stream.on('streamEvent', (event) => events.push(event.type));
    let text = '';
    stream.on('text', (delta) => (text += delta));
    const final = await stream.finalMessage();
    expect(final.content).toEqual(whole.content);
    expect(final.stop_reason).toBe(whole.stop_reason);
    expect(text).toBe((whole.content[1] as Anthropic.TextBlock).text);
    expect(events[0]).toBe('message_start');
    expect(events.slice(-2)).toEqual(['message_delta', 'message_stop']);
    expect(events).toContain('content_block_start');
  });

  it('stop_sequences end the answer at the first match and name it; max_tokens reached says so', async () => {
    const { url } = await startSidecar();
    const client = clientFor(url);
    const prompt: Anthropic.MessageParam[] = [{ role: 'user', content: 'tell me more' }];
    const full = await client.messages.create({ model, max_tokens: 200, messages: prompt });
    const text = (full.content[0] as Anthropic.TextBlock).text;
    const words = text.split(' ');
    const stop = words[Math.floor(words.length / 2)]!;
    const cut = text.slice(0, text.indexOf(stop));
    const stopped = await client.messages.create({ model, max_tokens: 200, messages: prompt, stop_sequences: [stop, 'never-there'] });
    expect(stopped).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: stop, content: [{ type: 'text', text: cut }] });
    // Ended before the server's usage chunk: one token per text chunk, as mlx_lm.server streams them.
    expect(stopped.usage.output_tokens).toBeGreaterThan(0);
    const streamed = await client.messages.stream({ model, max_tokens: 200, messages: prompt, stop_sequences: [stop] }).finalMessage();
    expect(streamed).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: stop, content: [{ type: 'text', text: cut }] });
    expect(streamed.usage.output_tokens).toBe(stopped.usage.output_tokens);
    const short = await client.messages.create({ model, max_tokens: 3, messages: prompt });
    expect(short.stop_reason).toBe('max_tokens');
    expect(short.usage.output_tokens).toBe(3);
  });

  it('count_tokens: the exact prompt tokens, as the model server counts them for the same request', async () => {
    const { url } = await startSidecar();
    const client = clientFor(url);
    const request = { model, system: 'be brief', tools: weather, messages: [{ role: 'user' as const, content: 'how many tokens is this prompt?' }] };
    const counted = await client.messages.countTokens(request);
    const answered = await client.messages.create({ ...request, max_tokens: 8 });
    expect(counted.input_tokens).toBeGreaterThan(10);
    expect(counted.input_tokens).toBe(answered.usage.input_tokens + (answered.usage.cache_read_input_tokens ?? 0));
  });

  it('a bad request: BadRequestError naming the field; unknown fields and anthropic-beta headers are accepted', async () => {
    const { url, sidecar } = await startSidecar();
    const client = clientFor(url);
    const missing = await client.messages.create({ model, messages: [{ role: 'user', content: 'hi' }] } as unknown as Anthropic.MessageCreateParamsNonStreaming).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(Anthropic.BadRequestError);
    expect((missing as InstanceType<typeof Anthropic.BadRequestError>).message).toMatch(/max_tokens/);
    const image = await client.messages
      .create({ model, max_tokens: 8, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] }] })
      .catch((e: unknown) => e);
    expect((image as Error).message).toMatch(/messages\[0\]\.content\[0\].*image blocks are not supported/);
    expect(sidecar.inferenceBreaker.getMetrics().totalCalls).toBe(0);
    const tolerant = await client.messages.create(
      { model, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }], metadata: { user_id: 'u' }, some_future_field: { x: 1 } } as Anthropic.MessageCreateParamsNonStreaming,
      { headers: { 'anthropic-beta': 'interleaved-thinking-2025-05-14' }, query: { beta: 'true' } },
    );
    expect(tolerant.type).toBe('message');
  });

  it('an open breaker: 529 overloaded_error with Retry-After, at once; with retries off the SDK raises it, with them on it retries and gets the answer once the server recovers', async () => {
    const { url, faults } = await startSidecar({ breakers: { inference: { failureThreshold: 1, recoveryTimeout: 2_000 } } });
    await faults({ error_rate: 1 });
    const failed = await clientFor(url).messages.create({ model, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(failed).toMatchObject({ status: 500, error: { type: 'error', error: { type: 'api_error' } } });
    await faults({ error_rate: 0 });
    const started = performance.now();
    const refused = await clientFor(url).messages.create({ model, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(refused).toBeInstanceOf(Anthropic.APIError);
    expect(refused).toMatchObject({ status: 529, error: { type: 'error', error: { type: 'overloaded_error' } } });
    expect(Number((refused as InstanceType<typeof Anthropic.APIError>).headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const { statuses, fetch: noting } = statusRecordingFetch();
    const retrying = new Anthropic({ baseURL: url, apiKey: 'not-needed', maxRetries: 4, timeout: 15_000, fetch: noting });
    const answer = await retrying.messages.create({ model, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
    expect(answer.type).toBe('message');
    expect(statuses[0]).toBe(529);
    expect(statuses.at(-1)).toBe(200);
  });

  it('a client that aborts mid-stream: the upstream request is ended, nothing counts against the breaker', async () => {
    const { url, sidecar, faults } = await startSidecar();
    await faults({ token_delay_ms: 40 });
    const controller = new AbortController();
    const stream = clientFor(url).messages.stream({ model, max_tokens: 400, messages: [{ role: 'user', content: 'a long one' }] }, { signal: controller.signal });
    let text = '';
    stream.on('text', (delta) => {
      text += delta;
      if (text.length > 20) controller.abort();
    });
    await stream.finalMessage().catch(() => undefined);
    await until('the request to end upstream', async () => (((await (await fetch(`${url}/status`)).json()) as { inflight: number }).inflight === 0 ? true : undefined), 5_000);
    expect(sidecar.inferenceBreaker.getMetrics().failures).toBe(0);
  });

  it('with an API key set, every inference route wants it, as a bearer token or x-api-key; a wrong one is 401 in each API\'s shape', async () => {
    const key = 'a-key-of-some-length';
    const { url } = await startSidecar({ apiKey: key });
    const hi = { model, max_tokens: 8, messages: [{ role: 'user' as const, content: 'hi' }] };
    expect((await new Anthropic({ baseURL: url, apiKey: key, maxRetries: 0 }).messages.create(hi)).type).toBe('message');
    expect((await new Anthropic({ baseURL: url, apiKey: null, authToken: null, defaultHeaders: { 'x-api-key': key }, maxRetries: 0 }).messages.create(hi)).type).toBe('message');
    const wrong = await new Anthropic({ baseURL: url, apiKey: 'not-the-key', maxRetries: 0 }).messages.create(hi).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(Anthropic.AuthenticationError);
    const openai = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }) });
    expect(openai.status).toBe(401);
    expect(await openai.json()).toMatchObject({ error: { code: 'unauthorized', type: 'authentication_error' } });
    const keyed = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }) });
    expect(keyed.status).toBe(200);
  });

  it('with the context window set, a request that would overflow it is refused in the words Claude Code compacts on (counted by the model server)', async () => {
    const { url, sidecar } = await startSidecar({ anthropic: { contextTokens: 60 } });
    const client = clientFor(url);
    const long = Array.from({ length: 80 }, (_, i) => `word${i}`).join(' ');
    const tooLong = await client.messages.create({ model, max_tokens: 8, messages: [{ role: 'user', content: long }] }).catch((e: unknown) => e);
    expect(tooLong).toBeInstanceOf(Anthropic.BadRequestError);
    expect((tooLong as Error).message).toMatch(/prompt is too long: \d+ tokens > 60 maximum/);
    const streamed = await client.messages.stream({ model, max_tokens: 8, messages: [{ role: 'user', content: long }] }).finalMessage().catch((e: unknown) => e);
    expect((streamed as Error).message).toMatch(/prompt is too long: \d+ tokens > 60 maximum/);
    const withRoom = Array.from({ length: 20 }, (_, i) => `word${i}`).join(' ');
    const tooMuch = await client.messages.create({ model, max_tokens: 50, messages: [{ role: 'user', content: withRoom }] }).catch((e: unknown) => e);
    expect((tooMuch as Error).message).toMatch(/input length and `max_tokens` exceed context limit: \d+ \+ 50 > 60, decrease input length or `max_tokens` and try again/);
    expect((await client.messages.create({ model, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] })).type).toBe('message');
    expect(sidecar.inferenceBreaker.getMetrics().failures).toBe(0);
  });

  it('a long prefill: ping events keep the stream alive before the first block, after message_start', async () => {
    const { url, faults } = await startSidecar();
    await faults({ prefill_ms: 2_500, prefill_chunk_ms: 500 });
    const response = await fetch(`${url}/v1/messages?beta=true`, { method: 'POST', headers: { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' }, body: JSON.stringify({ model, max_tokens: 8, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
    const events = [...(await response.text()).matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(events[0]).toBe('message_start');
    const firstBlock = events.indexOf('content_block_start');
    expect(events.slice(1, firstBlock).filter((e) => e === 'ping').length).toBeGreaterThanOrEqual(3);
    expect(events.slice(-2)).toEqual(['message_delta', 'message_stop']);
  });
});
