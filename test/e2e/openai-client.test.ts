// The official openai client against mlx-guard in front of the stand-in.
import { describe, expect, it, vi } from 'vitest';
import { startSidecar } from '../support/sidecar.js';

const weather = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];

describe('mlx-guard with the openai client', () => {
  it('chat, non-streaming: the client’s model name echoed back; the answer counts as proof of life', async () => {
    const { client, sidecar } = await startSidecar();
    const { journal } = sidecar.supervisor;
    const begin = journal.begin.bind(journal);
    let progress = 0;
    vi.spyOn(journal, 'begin').mockImplementation((info) => {
      const entry = begin(info);
      return { progress: () => (progress++, entry.progress()), end: entry.end, verdict: undefined };
    });
    const completion = await client.chat.completions.create({ model: 'my-model', messages: [{ role: 'user', content: 'hello' }], max_tokens: 5 });
    expect(completion.model).toBe('my-model');
    expect(completion.choices[0]!.message.content).toMatch(/\w/);
    expect(completion.usage?.completion_tokens).toBe(5);
    // A whole answer's progress reaches the supervisor too (it keeps a server alive in its eyes).
    expect(progress).toBeGreaterThan(0);
  });

  it("the stand-in's script answers by turn: the scripted call first, the text once a tool result is in", async () => {
    const { client, faults } = await startSidecar();
    await faults({ script: [{ tool_call: { name: 'get_weather', arguments: { city: 'Lima' } } }, { text: 'It is warm in Lima.' }] });
    const first = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'weather?' }], tools: weather });
    const call = first.choices[0]!.message.tool_calls![0]!;
    expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ city: 'Lima' });
    const second = await client.chat.completions.create({
      model: 'm',
      tools: weather,
      messages: [{ role: 'user', content: 'weather?' }, first.choices[0]!.message, { role: 'tool', tool_call_id: call.id, content: '25 °C' }],
    });
    expect(second.choices[0]!.message.content).toBe('It is warm in Lima.');
  });

  it('chat, streaming, with usage only when asked', async () => {
    const { client } = await startSidecar();
    const collect = async (includeUsage: boolean) => {
      const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hello' }], max_tokens: 4, stream: true, ...(includeUsage ? { stream_options: { include_usage: true } } : {}) });
      let text = '';
      let usage: number | undefined;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        usage = chunk.usage?.completion_tokens ?? usage;
      }
      return { text, usage };
    };
    expect(await collect(true)).toMatchObject({ usage: 4 });
    const plain = await collect(false);
    expect(plain.text.split(' ')).toHaveLength(4);
    expect(plain.usage).toBeUndefined();
  });

  it('streaming with logprobs (which the server only answers whole): still a stream, logprobs and usage kept', async () => {
    const { client } = await startSidecar();
    const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hello' }], max_tokens: 3, logprobs: true, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let logprobs = 0;
    let finish: string | null | undefined;
    let usage: number | undefined;
    for await (const chunk of stream) {
      expect(chunk.model).toBe('m');
      text += chunk.choices[0]?.delta.content ?? '';
      logprobs += chunk.choices[0]?.logprobs?.content?.length ?? 0;
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage?.completion_tokens ?? usage;
    }
    expect(text.split(' ')).toHaveLength(3);
    expect(logprobs).toBeGreaterThan(0);
    expect(finish).toBe('length');
    expect(usage).toBe(3);
  });

  it('text completions, streaming and not', async () => {
    const { client } = await startSidecar();
    const completion = await client.completions.create({ model: 'm', prompt: 'Once upon a time', max_tokens: 3 });
    expect(completion.choices[0]!.text.trim().split(' ')).toHaveLength(3);
    let text = '';
    for await (const chunk of await client.completions.create({ model: 'm', prompt: 'Once upon a time', max_tokens: 3, stream: true })) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe(completion.choices[0]!.text);
  });

  it('tool calls the server left as raw markup become tool_calls, streamed whole; a model\'s own id is kept', async () => {
    const modes = ['raw:hermes', 'raw:mistral', 'raw:qwen3_coder', 'raw:llama3_json', 'raw:harmony', 'raw:minimax_m2', 'raw:functionary', 'raw:granite', 'raw:nemotron', 'raw:command_r7b', 'raw:phi4_mini'];
    for (const mode of modes) {
      // Command R7B numbers its calls itself ("0"), and its template expects that id back; the others get nine alphanumerics.
      const id = mode === 'raw:command_r7b' ? /^0$/ : /^[A-Za-z0-9]{9}$/;
      const { client, faults } = await startSidecar();
      await faults({ tool_calls: mode });
      const completion = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'weather in Paris?' }], tools: weather });
      const call = completion.choices[0]!.message.tool_calls?.[0];
      expect(completion.choices[0]!.finish_reason, mode).toBe('tool_calls');
      expect(call?.id, mode).toMatch(id);
      expect(call?.type === 'function' && JSON.parse(call.function.arguments), mode).toEqual({ city: 'Paris' });

      const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'weather in Paris?' }], tools: weather, stream: true });
      const calls: unknown[] = [];
      let finish: string | null | undefined;
      let content = '';
      for await (const chunk of stream) {
        calls.push(...(chunk.choices[0]?.delta.tool_calls ?? []));
        content += chunk.choices[0]?.delta.content ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect(calls, mode).toEqual([expect.objectContaining({ index: 0, id: expect.stringMatching(id), function: { name: 'get_weather', arguments: '{"city":"Paris"}' } })]);
      expect(finish, mode).toBe('tool_calls');
      expect(content, mode).not.toContain('get_weather');
    }
  });

  it('a call the server streams in pieces (llama.cpp\'s server, vLLM) reaches the client once and whole, streamed and not', async () => {
    const { client, faults } = await startSidecar();
    await faults({ tool_calls: 'pieces' });
    const whole = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'weather in Paris?' }], tools: weather });
    expect(whole.choices[0]!.finish_reason).toBe('tool_calls');
    const call = whole.choices[0]!.message.tool_calls;
    expect(call).toEqual([{ id: expect.stringMatching(/^[A-Za-z0-9]{24}$/), type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
    const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'weather in Paris?' }], tools: weather, stream: true });
    const pieces: unknown[] = [];
    for await (const chunk of stream) pieces.push(...(chunk.choices[0]?.delta.tool_calls ?? []));
    expect(pieces).toEqual([{ index: 0, id: expect.stringMatching(/^[A-Za-z0-9]{24}$/), type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
  });

  it('calls the server parsed itself: the uuid it made up becomes an id Mistral\'s templates take back (mlx-lm#1375); a dropped call is counted', async () => {
    const { client, faults, url } = await startSidecar();
    const parsed = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'weather?' }], tools: weather });
    expect(parsed.choices[0]!.message.tool_calls?.[0]?.id).toMatch(/^[A-Za-z0-9]{9}$/);
    await faults({ tool_calls: 'lost' });
    const lost = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'weather?' }], tools: weather });
    expect(lost.choices[0]!.finish_reason).toBe('tool_calls');
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/^mlx_guard_lost_tool_calls_total 1$/m);
  });

  it('a client that aborts mid-stream: the breaker counts the server’s answer a success and the abort nothing, and mlx-guard keeps serving', async () => {
    const { client, sidecar, faults, url } = await startSidecar();
    await faults({ token_delay_ms: 30 });
    const controller = new AbortController();
    const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'long' }], max_tokens: 200, stream: true }, { signal: controller.signal });
    let chunks = 0;
    try {
      for await (const _ of stream) if (++chunks === 3) controller.abort();
    } catch {
      // the SDK may end the iteration or throw on abort: either way the client is gone
    }
    expect(chunks).toBe(3);
    // The call was judged at its first progress (the server answered); leaving early is no failure.
    const inflight = async () => ((await (await fetch(`${url}/status`)).json()) as { inflight: number }).inflight;
    const deadline = Date.now() + 5_000;
    while ((await inflight()) !== 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await inflight()).toBe(0);
    expect(sidecar.inferenceBreaker.getMetrics()).toMatchObject({ failures: 0, successes: 1 });
    await faults({ token_delay_ms: 0 });
    expect((await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 })).choices).toHaveLength(1);
  });
});
