// Ollama's API with the official `ollama` client (pinned in package.json), in front of the stand-in.
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Ollama, type ChatResponse, type Message } from 'ollama';
import { describe, expect, it } from 'vitest';
import { privateDir, until } from '../support/processes.js';
import { startSidecar } from '../support/sidecar.js';

/** A model folder as mlx_lm.server loads one: its config (family, context) and a chat template that knows tools. */
function modelFolder(): string {
  const dir = privateDir('mlx-guard-ollama-model-');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', max_position_embeddings: 4096 }));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: '{% if tools %}{{ tools | tojson }}{% endif %}{% for m in messages %}{{ m.content }}{% endfor %}' }));
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ temperature: 0.6, top_p: 0.95 }));
  return dir;
}

async function start(overrides: Parameters<typeof startSidecar>[0] = {}, standinArgs: string[] = []) {
  const model = modelFolder();
  const started = await startSidecar({ ...overrides, supervisor: { model, ...overrides.supervisor } }, standinArgs);
  return { ...started, model, ollama: new Ollama({ host: started.url }) };
}

const weather = [{ type: 'function', function: { name: 'get_weather', description: 'the weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];

/** Every part of a streamed chat, and its text. */
async function streamedChat(ollama: Ollama, request: Parameters<Ollama['chat']>[0]) {
  const parts: ChatResponse[] = [];
  for await (const part of await ollama.chat({ ...request, stream: true })) parts.push(part);
  return { parts, text: parts.map((part) => part.message.content).join(''), calls: parts.flatMap((part) => part.message.tool_calls ?? []), last: parts.at(-1)! };
}

describe('the Ollama API with the official ollama client', () => {
  it('lists the model with what its files say, shows its context length and capabilities, and says what is loaded', async () => {
    const { ollama, model, url } = await start();
    const { version } = await ollama.version();
    expect(version.split('.').map(Number)).toEqual([expect.any(Number), expect.any(Number), expect.any(Number)]);
    const { models } = await ollama.list();
    expect(models.map((m) => m.name)).toEqual([model]);
    expect(models[0]).toMatchObject({ model, size: expect.any(Number), digest: expect.stringMatching(/^[0-9a-f]{64}$/), details: { family: 'llama', families: ['llama'], format: 'safetensors' } });
    expect(Number.isNaN(Date.parse(String(models[0]!.modified_at)))).toBe(false);
    const shown = await ollama.show({ model });
    expect(shown.model_info).toMatchObject({ 'general.architecture': 'llama', 'llama.context_length': 4096 });
    expect(shown.capabilities).toEqual(['completion', 'tools']);
    expect(shown.template).toMatch(/tools/);
    expect(shown.parameters.split('\n').map((line) => line.split(/\s+/))).toEqual([
      ['temperature', '0.6'],
      ['top_p', '0.95'],
    ]);
    // With the tag Ollama's clients add, and a name not served.
    expect((await ollama.show({ model: `${model}:latest` })).model_info).toMatchObject({ 'llama.context_length': 4096 });
    await expect(ollama.show({ model: 'llama3:8b' })).rejects.toMatchObject({ status_code: 404, error: expect.stringMatching(/not found.*\/api\/tags/) });
    const { models: loaded } = await ollama.ps();
    expect(loaded).toHaveLength(1);
    expect(loaded[0]).toMatchObject({ name: model, size: expect.any(Number), size_vram: expect.any(Number), context_length: 4096 });
    expect(loaded[0]!.size).toBeGreaterThan(1_000_000);
    // The same window in /v1/models, for OpenAI clients that read it.
    const listed = (await (await fetch(`${url}/v1/models`)).json()) as { data: Array<Record<string, unknown>> };
    expect(listed.data[0]).toMatchObject({ id: model, context_length: 4096, max_model_len: 4096 });
  });

  it('answers a chat whole and streamed alike: NDJSON parts, then a last line with done, done_reason, counts and times', async () => {
    const { ollama, url, model } = await start();
    const request = { model: 'qwen2.5-coder:7b', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hello' }], options: { num_predict: 40, temperature: 0, num_ctx: 8192 } };
    const whole = await ollama.chat(request);
    expect(whole).toMatchObject({ model: 'qwen2.5-coder:7b', message: { role: 'assistant' }, done: true, done_reason: 'stop' });
    expect(whole.message.content).toMatch(/\w/);
    expect(whole.eval_count).toBeGreaterThan(0);
    expect(whole.prompt_eval_count).toBeGreaterThan(0);
    expect(Number.isInteger(whole.total_duration) && whole.total_duration > 0).toBe(true);
    const streamed = await streamedChat(ollama, request);
    expect(streamed.text).toBe(whole.message.content);
    expect(streamed.parts.length).toBeGreaterThan(2);
    expect(streamed.parts.slice(0, -1).every((part) => part.done === false)).toBe(true);
    expect(streamed.last).toMatchObject({ done: true, done_reason: 'stop', eval_count: whole.eval_count, prompt_eval_count: whole.prompt_eval_count });
    expect(streamed.last.total_duration).toBe(streamed.last.prompt_eval_duration + streamed.last.eval_duration);
    // Ollama streams unless told not to; the stream is NDJSON.
    const raw = await fetch(`${url}/api/chat`, { method: 'POST', body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 3 } }) });
    expect(raw.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = (await raw.text()).trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.at(-1)).toMatchObject({ done: true, done_reason: 'length', eval_count: 3 });
  });

  it('a long prefill: keepalive lines with empty content while the model server reads the prompt, which the client passes over', async () => {
    const { ollama, faults } = await start();
    await faults({ prefill_ms: 2_000, prefill_chunk_ms: 500 });
    const { parts, text, last } = await streamedChat(ollama, { model: 'm', messages: [{ role: 'user', content: 'a long prompt' }], options: { num_predict: 20 } });
    const firstContent = parts.findIndex((part) => part.message.content !== '');
    expect(firstContent).toBeGreaterThanOrEqual(3);
    expect(parts.slice(0, firstContent).every((part) => part.done === false && part.message.content === '' && part.message.role === 'assistant')).toBe(true);
    expect(text).toMatch(/\w/);
    expect(last.done).toBe(true);
    expect(last.prompt_eval_duration).toBeGreaterThan(1_500_000_000);
  });

  it('round-trips a tool call the model server made (arguments as an object) with its result, whole and streamed', async () => {
    const { ollama } = await start();
    const ask: Message = { role: 'user', content: 'weather in Paris?' };
    const first = await ollama.chat({ model: 'm', messages: [ask], tools: weather });
    const call = first.message.tool_calls?.[0];
    expect(call?.function.name).toBe('get_weather');
    expect(typeof call?.function.arguments).toBe('object');
    const streamed = await streamedChat(ollama, { model: 'm', messages: [ask], tools: weather });
    expect(streamed.calls.map((c) => c.function)).toEqual([expect.objectContaining({ name: 'get_weather', arguments: call!.function.arguments })]);
    const second = await ollama.chat({ model: 'm', tools: weather, messages: [ask, first.message, { role: 'tool', content: '21 °C and sunny', tool_name: 'get_weather' }] });
    expect(second.message.tool_calls ?? []).toEqual([]);
    expect(second.message.content).toMatch(/\w/);
  });

  it('parses a call the model left in its text as Hermes markup into tool_calls, whole and streamed', async () => {
    const { ollama, faults } = await start();
    await faults({ tool_calls: 'raw:hermes' });
    const whole = await ollama.chat({ model: 'm', messages: [{ role: 'user', content: 'weather in Oslo?' }], tools: weather });
    expect(whole.message.content).not.toMatch(/<tool_call>/);
    expect(whole.message.tool_calls?.map((c) => c.function.name)).toEqual(['get_weather']);
    const streamed = await streamedChat(ollama, { model: 'm', messages: [{ role: 'user', content: 'weather in Oslo?' }], tools: weather });
    expect(streamed.text).not.toMatch(/<tool_call>/);
    expect(streamed.calls.map((c) => c.function)).toEqual([{ index: 0, name: 'get_weather', arguments: whole.message.tool_calls![0]!.function.arguments }]);
    // The parsed call goes back with its result, as the client keeps it.
    await faults({ tool_calls: 'parsed' });
    const after = await ollama.chat({ model: 'm', tools: weather, messages: [{ role: 'user', content: 'weather in Oslo?' }, whole.message, { role: 'tool', content: '3 °C', tool_name: 'get_weather' }] });
    expect(after.message.tool_calls ?? []).toEqual([]);
    expect(after.message.content).toMatch(/\w/);
  });

  it('accepts format (a JSON schema, or "json"), think and keep_alive; thinking comes back as `thinking`', async () => {
    const { ollama } = await start({}, ['--reasoning-tokens', '5']);
    const format = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] };
    const answer = await ollama.chat({ model: 'm', messages: [{ role: 'user', content: 'answer in JSON' }], format, think: true, keep_alive: '10m', options: { num_predict: 30 } });
    expect(answer.done).toBe(true);
    expect(answer.message.thinking).toMatch(/\w/);
    const streamed = await streamedChat(ollama, { model: 'm', messages: [{ role: 'user', content: 'answer in JSON' }], format: 'json', think: true, options: { num_predict: 30 } });
    expect(streamed.parts.map((part) => part.message.thinking ?? '').join('')).toBe(answer.message.thinking);
  });

  it('generates from a prompt (through the chat template, or raw), whole and streamed; an empty prompt is a load request', async () => {
    const { ollama } = await start();
    const whole = await ollama.generate({ model: 'm', prompt: 'why is the sky blue?', system: 'be brief', options: { num_predict: 20 } });
    expect(whole).toMatchObject({ model: 'm', done: true });
    expect(whole.response).toMatch(/\w/);
    const parts: string[] = [];
    let last: Record<string, unknown> = {};
    for await (const part of await ollama.generate({ model: 'm', prompt: 'why is the sky blue?', system: 'be brief', options: { num_predict: 20 }, stream: true })) {
      parts.push(part.response ?? '');
      last = part as unknown as Record<string, unknown>;
    }
    expect(parts.join('')).toBe(whole.response);
    expect(last).toMatchObject({ done: true, eval_count: whole.eval_count });
    const raw = await ollama.generate({ model: 'm', prompt: '<s>Once upon a time', raw: true, options: { num_predict: 10 } });
    expect(raw.response).toMatch(/\w/);
    expect(await ollama.generate({ model: 'm', prompt: '' })).toMatchObject({ done: true, done_reason: 'load', response: '' });
    expect(await ollama.chat({ model: 'm', messages: [] })).toMatchObject({ done: true, done_reason: 'load' });
    await expect(ollama.generate({ model: 'm', prompt: 'def f(', suffix: '    return x' })).rejects.toMatchObject({ status_code: 400, error: expect.stringMatching(/^suffix: fill-in-the-middle/) });
  });

  it('refuses what it does not serve by name: images (400), embeddings and model management (501, saying what to do)', async () => {
    const { ollama } = await start();
    await expect(ollama.chat({ model: 'm', messages: [{ role: 'user', content: 'what is this?', images: ['aGVsbG8='] }] })).rejects.toMatchObject({ status_code: 400, error: expect.stringMatching(/^messages\[0\]\.images: images are not supported/) });
    await expect(ollama.embed({ model: 'm', input: 'hi' })).rejects.toMatchObject({ status_code: 501, error: expect.stringMatching(/embeddings are not served/) });
    await expect(ollama.pull({ model: 'llama3' })).rejects.toMatchObject({ status_code: 501, error: expect.stringMatching(/mlx-guard pull/) });
    await expect(ollama.delete({ model: 'llama3' })).rejects.toMatchObject({ status_code: 501 });
  });

  it('a client that aborts mid-stream: the upstream request is ended, nothing counts against the breaker', async () => {
    const { ollama, faults, url, sidecar } = await start();
    await faults({ token_delay_ms: 40 });
    const stream = await ollama.chat({ model: 'm', messages: [{ role: 'user', content: 'a long one' }], options: { num_predict: 400 }, stream: true });
    let text = '';
    const read = (async () => {
      for await (const part of stream) {
        text += part.message.content;
        if (text.length > 20) stream.abort();
      }
    })();
    await expect(read).rejects.toThrow(/abort/i);
    await until('the request to end upstream', async () => (((await (await fetch(`${url}/status`)).json()) as { inflight: number }).inflight === 0 ? true : undefined), 5_000);
    expect(sidecar.inferenceBreaker.getMetrics().failures).toBe(0);
  });

  it('an open breaker: 503 at once with Retry-After, in Ollama’s error shape', async () => {
    const { ollama, faults, url } = await start({ breakers: { inference: { failureThreshold: 1, recoveryTimeout: 5_000 } } });
    await faults({ error_rate: 1 });
    await expect(ollama.chat({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status_code: 502 });
    await faults({ error_rate: 0 });
    const started = performance.now();
    await expect(ollama.chat({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status_code: 503, error: expect.stringMatching(/the model server is failing/) });
    expect(performance.now() - started).toBeLessThan(1_000);
    const refused = await fetch(`${url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'm', prompt: 'hi' }) });
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toEqual({ error: expect.stringMatching(/the model server is failing/) });
  });

  it('serves the same routes on a second port (ollamaPort) for clients that assume Ollama’s', async () => {
    const { sidecar, model } = await start({ ollamaPort: 0 });
    const port = (sidecar.ollamaListener!.address() as AddressInfo).port;
    const ollama = new Ollama({ host: `http://127.0.0.1:${port}` });
    expect((await ollama.list()).models.map((m) => m.name)).toEqual([model]);
    expect((await ollama.chat({ model: 'm', messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 5 } })).done).toBe(true);
  });
});
