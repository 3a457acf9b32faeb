// The Responses API (`/v1/responses`) with the official openai client, in front of the stand-in.
import OpenAI, { APIError } from 'openai';
import { describe, expect, it } from 'vitest';
import { until } from '../support/processes.js';
import { statusRecordingFetch } from '../support/recording-proxy.js';
import { startSidecar } from '../support/sidecar.js';

/** The text of a response's message items (the SDK adds `output_text` to `create`'s answer only). */
const textOf = (response: { output: Array<{ type: string; content?: unknown }> }) =>
  response.output.flatMap((item) => (item.type === 'message' ? (item.content as Array<{ type: string; text?: string }>).map((part) => (part.type === 'output_text' ? part.text : '')) : [])).join('');

const weather = [{ type: 'function' as const, name: 'get_weather', strict: false, parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }];

describe('the Responses API with the openai client', () => {
  it('a whole answer and the same answer streamed (stream().finalResponse()) are the same response', async () => {
    const { client } = await startSidecar();
    const params = { model: 'my-model', instructions: 'Be brief.', input: [{ role: 'developer' as const, content: 'You run locally.' }, { role: 'user' as const, content: 'hello' }], max_output_tokens: 200 };
    const whole = await client.responses.create(params);
    expect(whole).toMatchObject({ object: 'response', status: 'completed', model: 'my-model', error: null, incomplete_details: null });
    expect(whole.id).toMatch(/^resp_/);
    expect(whole.output).toHaveLength(1);
    expect(whole.output[0]).toMatchObject({ type: 'message', role: 'assistant', status: 'completed' });
    expect(whole.output_text).toMatch(/\w/);
    expect(whole.usage?.output_tokens).toBeGreaterThan(0);
    expect(whole.usage?.total_tokens).toBe(whole.usage!.input_tokens + whole.usage!.output_tokens);

    const stream = client.responses.stream(params);
    const deltas: string[] = [];
    const sequence: number[] = [];
    stream.on('response.output_text.delta', (event) => deltas.push(event.delta));
    stream.on('event', (event) => sequence.push(event.sequence_number));
    const streamed = await stream.finalResponse();
    expect(streamed.status).toBe('completed');
    expect(textOf(streamed)).toBe(whole.output_text);
    expect(textOf(whole)).toBe(whole.output_text);
    expect(deltas.join('')).toBe(whole.output_text);
    expect(deltas.length).toBeGreaterThan(1);
    // The prompt cache is warm the second time: only the cached count may differ.
    expect({ ...streamed.usage, input_tokens_details: undefined }).toEqual({ ...whole.usage, input_tokens_details: undefined });
    expect(streamed.usage!.input_tokens_details.cached_tokens).toBeGreaterThan(0);
    expect(sequence).toEqual(sequence.map((_, i) => i));
  });

  it('a long prefill: keepalive events while the model server reads the prompt, which the stream helper passes over', async () => {
    const { client, faults } = await startSidecar();
    await faults({ prefill_ms: 2_000, prefill_chunk_ms: 500 });
    const types: string[] = [];
    const stream = client.responses.stream({ model: 'm', input: 'a long prompt', max_output_tokens: 50 });
    stream.on('event', (event) => types.push(event.type));
    const response = await stream.finalResponse();
    expect(response.status).toBe('completed');
    expect(types.filter((type) => (type as string) === 'keepalive').length).toBeGreaterThanOrEqual(3);
    expect(types.indexOf('keepalive' as never)).toBeLessThan(types.indexOf('response.output_item.added'));
  });

  it('max_output_tokens runs out: status incomplete, reason max_output_tokens, whole and streamed', async () => {
    const { client } = await startSidecar();
    const whole = await client.responses.create({ model: 'm', input: 'tell me a story', max_output_tokens: 3 });
    expect(whole).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } });
    expect(whole.usage?.output_tokens).toBe(3);
    const types: string[] = [];
    const stream = client.responses.stream({ model: 'm', input: 'tell me a story', max_output_tokens: 3 });
    stream.on('event', (event) => types.push(event.type));
    await stream.done();
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.incomplete');
  });

  it('a function call and its output, over two turns, whole and streamed', async () => {
    const { client } = await startSidecar();
    for (const stream of [false, true]) {
      const first = stream ? await client.responses.stream({ model: 'm', input: 'weather in Paris?', tools: weather }).finalResponse() : await client.responses.create({ model: 'm', input: 'weather in Paris?', tools: weather });
      const call = first.output.find((item) => item.type === 'function_call');
      expect(call, JSON.stringify(first.output)).toMatchObject({ type: 'function_call', name: 'get_weather', status: 'completed' });
      if (call?.type !== 'function_call') throw new Error('no function call');
      expect(JSON.parse(call.arguments)).toHaveProperty('city');
      expect(call.call_id).not.toBe('');
      const second = await client.responses.create({
        model: 'm',
        tools: weather,
        input: [{ role: 'user', content: 'weather in Paris?' }, { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments }, { type: 'function_call_output', call_id: call.call_id, output: '21 °C and sunny' }],
      });
      expect(second.output.map((item) => item.type)).toEqual(['message']);
      expect(second.output_text).toMatch(/\w/);
    }
  });

  it('a call the model server left in the content as Hermes markup is parsed into a function_call item', async () => {
    const { client, faults } = await startSidecar();
    await faults({ tool_calls: 'raw:hermes' });
    const whole = await client.responses.create({ model: 'm', input: 'weather in Oslo?', tools: weather });
    expect(whole.output.map((item) => item.type)).toEqual(['function_call']);
    const streamed = await client.responses.stream({ model: 'm', input: 'weather in Oslo?', tools: weather }).finalResponse();
    expect(streamed.output.map((item) => item.type)).toEqual(['function_call']);
    expect(streamed.output[0]).toMatchObject({ name: 'get_weather', arguments: (whole.output[0] as { arguments: string }).arguments });
  });

  it('a freeform (custom) tool is called with its raw input, and its call and output go back in the history', async () => {
    const { client } = await startSidecar();
    const tools = [{ type: 'custom' as const, name: 'apply_patch', description: 'applies a patch' }];
    const first = await client.responses.create({ model: 'm', input: 'fix the bug with apply_patch', tools });
    const call = first.output[0];
    expect(call).toMatchObject({ type: 'custom_tool_call', name: 'apply_patch' });
    if (call?.type !== 'custom_tool_call') throw new Error('no custom tool call');
    expect(typeof call.input).toBe('string');
    const streamed = await client.responses.stream({ model: 'm', input: 'fix the bug with apply_patch', tools }).finalResponse();
    expect(streamed.output[0]).toMatchObject({ type: 'custom_tool_call', name: 'apply_patch', input: call.input });
    const second = await client.responses.create({
      model: 'm',
      tools,
      input: [{ role: 'user', content: 'fix the bug with apply_patch' }, { type: 'custom_tool_call', call_id: call.call_id, name: 'apply_patch', input: call.input }, { type: 'custom_tool_call_output', call_id: call.call_id, output: 'Done!' }],
    });
    expect(second.output.map((item) => item.type)).toEqual(['message']);
  });

  it('reasoning comes back as a reasoning item, streamed as reasoning text', async () => {
    const { client } = await startSidecar({}, ['--reasoning-tokens', '6']);
    const whole = await client.responses.create({ model: 'm', input: 'think first', max_output_tokens: 100 });
    expect(whole.output.map((item) => item.type)).toEqual(['reasoning', 'message']);
    const reasoning = whole.output[0] as { content?: Array<{ type: string; text: string }> };
    expect(reasoning.content?.[0]?.text).toMatch(/\w/);
    const deltas: string[] = [];
    const stream = client.responses.stream({ model: 'm', input: 'think first', max_output_tokens: 100 });
    stream.on('response.reasoning_text.delta', (event) => deltas.push(event.delta));
    const streamed = await stream.finalResponse();
    expect(streamed.output.map((item) => item.type)).toEqual(['reasoning', 'message']);
    expect(deltas.join('')).toBe(reasoning.content![0]!.text);
  });

  it('what a local model server cannot do is refused with a 400 naming the field, in OpenAI’s error shape', async () => {
    const { client } = await startSidecar();
    const refused = async (body: Record<string, unknown>) => {
      const error = await client.responses.create(body as never).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(APIError);
      return error as APIError;
    };
    const webSearch = await refused({ model: 'm', input: 'news?', tools: [{ type: 'web_search' }] });
    expect(webSearch.status).toBe(400);
    expect(webSearch.message).toContain('tools[0].type: the built-in tool "web_search" is not available');
    const image = await refused({ model: 'm', input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'data:,' }] }] });
    expect(image.message).toContain('input[0].content[0].type: input_image parts are not supported');
    const role = await refused({ model: 'm', input: [{ role: 'wizard', content: 'hi' }] });
    expect(role.message).toContain('input[0].role');
  });

  it('previous_response_id continues a kept response; GET gives it back, DELETE forgets it; store: false keeps nothing', async () => {
    const { client } = await startSidecar();
    const first = await client.responses.create({ model: 'm', input: 'weather in Paris?', tools: weather });
    const call = first.output.find((item) => item.type === 'function_call');
    if (call?.type !== 'function_call') throw new Error('no function call');
    // The history is the kept one: only the call's output is sent.
    const second = await client.responses.create({ model: 'm', tools: weather, previous_response_id: first.id, input: [{ type: 'function_call_output', call_id: call.call_id, output: '21 °C' }] });
    expect(second.previous_response_id).toBe(first.id);
    expect(second.output.map((item) => item.type)).toEqual(['message']);
    // The same turn sent without the history asks for a call again: the history made the difference.
    const alone = await client.responses.create({ model: 'm', tools: weather, input: [{ role: 'user', content: 'weather in Paris?' }, { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments }, { type: 'function_call_output', call_id: call.call_id, output: '21 °C' }] });
    expect(textOf(alone)).toBe(textOf(second));

    expect((await client.responses.retrieve(second.id)).output).toEqual(second.output);
    expect(await client.responses.delete(second.id)).toMatchObject({ id: second.id, deleted: true });
    const gone = (await client.responses.retrieve(second.id).catch((e: unknown) => e)) as APIError;
    expect(gone.status).toBe(404);
    expect(gone.message).toContain('is kept here');

    const unstored = await client.responses.create({ model: 'm', input: 'hello', store: false });
    const refused = (await client.responses.create({ model: 'm', input: 'and then?', previous_response_id: unstored.id }).catch((e: unknown) => e)) as APIError;
    expect(refused.status).toBe(404);
    expect(refused.message).toMatch(/never stored \(store: false\)/);
  });

  it('a client that aborts mid-stream: the upstream request is ended, nothing counts against the breaker, nothing is kept', async () => {
    const { url, client, sidecar, faults } = await startSidecar();
    await faults({ token_delay_ms: 40 });
    const controller = new AbortController();
    const stream = client.responses.stream({ model: 'm', input: 'a long one', max_output_tokens: 400 }, { signal: controller.signal });
    let text = '';
    let id: string | undefined;
    stream.on('response.created', (event) => (id = event.response.id));
    stream.on('response.output_text.delta', (event) => {
      text += event.delta;
      if (text.length > 20) controller.abort();
    });
    await stream.finalResponse().catch(() => undefined);
    expect(text.length).toBeGreaterThan(20);
    await until('the request to end upstream', async () => (((await (await fetch(`${url}/status`)).json()) as { inflight: number }).inflight === 0 ? true : undefined), 5_000);
    expect(sidecar.inferenceBreaker.getMetrics().failures).toBe(0);
    expect(((await client.responses.retrieve(id!).catch((e: unknown) => e)) as APIError).status).toBe(404);
  });

  it('with an API key set, kept responses need it too', async () => {
    const { url } = await startSidecar({ apiKey: 'a-key-of-sixteen-chars' });
    const get = (headers: Record<string, string>) => fetch(`${url}/v1/responses/resp_unknown`, { headers, signal: AbortSignal.timeout(5_000) });
    expect((await get({})).status).toBe(401);
    expect((await get({ authorization: 'Bearer a-key-of-sixteen-chars' })).status).toBe(404);
    expect((await fetch(`${url}/v1/responses/resp_unknown`, { method: 'DELETE', signal: AbortSignal.timeout(5_000) })).status).toBe(401);
  });

  it('an open breaker: 503 with Retry-After, at once; with retries off the SDK raises it, with them on it retries and gets the answer once the server recovers', async () => {
    const { url, client, faults } = await startSidecar({ breakers: { inference: { failureThreshold: 1, recoveryTimeout: 2_000 } } });
    await faults({ error_rate: 1 });
    expect(((await client.responses.create({ model: 'm', input: 'hi' }).catch((e: unknown) => e)) as APIError).status).toBe(502);
    await faults({ error_rate: 0 });
    const started = performance.now();
    const refused = (await client.responses.create({ model: 'm', input: 'hi' }).catch((e: unknown) => e)) as APIError;
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(refused).toBeInstanceOf(APIError);
    expect(refused.status).toBe(503);
    expect(Number(refused.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const { statuses, fetch: noting } = statusRecordingFetch();
    const retrying = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'not-needed', maxRetries: 4, timeout: 15_000, fetch: noting });
    const answer = await retrying.responses.create({ model: 'm', input: 'hi' });
    expect(answer.status).toBe('completed');
    expect(statuses[0]).toBe(503);
    expect(statuses.at(-1)).toBe(200);
  });

  it('text.format json_schema and json_object are accepted, sent on as response_format and echoed in the response', async () => {
    const { client } = await startSidecar();
    const format = { type: 'json_schema' as const, name: 'answer', schema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] }, strict: true };
    const whole = await client.responses.create({ model: 'm', input: 'answer in JSON', text: { format } });
    expect(whole.text?.format).toEqual(format);
    const streamed = await client.responses.stream({ model: 'm', input: 'answer in JSON', text: { format: { type: 'json_object' } } }).finalResponse();
    expect(streamed.text?.format).toEqual({ type: 'json_object' });
  });
});
