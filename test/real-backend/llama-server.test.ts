// mlx-guard in front of a real model server it did not write: llama.cpp's llama-server serving
// a real (tiny) trained model, at default settings, through the official openai client. The
// stand-in's assumptions are proved here. Where llama-server differs from mlx_lm.server in a way
// that matters, mlx-guard handles it on purpose (README, "Other model servers"):
// it keeps connections open after a stream and then closes them unannounced (a fresh connection
// per call), answers 503 "Loading model" while loading (not ready), 500 for malformed JSON (never
// sent: requests are checked first), and /health during generation (a freeze is still caught:
// a stopped process answers nothing).
import { existsSync, readFileSync } from 'node:fs';
import { Ollama } from 'ollama';
import { describe, expect, it } from 'vitest';
import { expectCurrentRequestShapesServed } from '../support/current-requests.js';
import { llamaServerCommand } from '../support/llama-server.js';
import { isAlive, privateDir, spawnProcess, until } from '../support/processes.js';
import { post, rawRequest } from '../support/raw-http.js';
import { startSidecar } from '../support/sidecar.js';

const port = (url: string) => Number(new URL(url).port);
const onLlama = (atDefaults = true) => startSidecar({ supervisor: { backend: 'command', command: llamaServerCommand() } }, [], { atDefaults });
const hello = [{ role: 'user' as const, content: 'Hello' }];
const model = 'stories260K';

describe('llama-server behind mlx-guard', () => {
  it('chat, whole and streamed, through the openai client; the model named as the server names it', async () => {
    const { client, url } = await onLlama();
    const whole = await client.chat.completions.create({ model, messages: hello, max_tokens: 12 });
    expect(whole.choices[0]!.message.content).toMatch(/\w/);
    expect(whole.choices[0]!.finish_reason).toBe('length');
    expect(whole.usage).toMatchObject({ completion_tokens: 12, prompt_tokens: expect.any(Number) });
    const stream = await client.chat.completions.create({ model, messages: hello, max_tokens: 12, stream: true, stream_options: { include_usage: true } } as never);
    let text = '';
    let usage: unknown;
    let finish: string | null | undefined;
    for await (const chunk of stream as unknown as AsyncIterable<{ model: string; choices: Array<{ delta: { content?: string }; finish_reason: string | null }>; usage?: unknown }>) {
      expect(chunk.model).toBe('stories260K');
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(text).toMatch(/\w/);
    expect(finish).toBe('length');
    expect(usage).toMatchObject({ completion_tokens: 12 });
    expect((await client.models.list()).data.map((model) => model.id)).toEqual(['stories260K']);
    const unnamed = await rawRequest(port(url), post('/v1/chat/completions', JSON.stringify({ messages: hello, max_tokens: 2 })));
    expect(JSON.parse(unnamed.body).model).toBe('stories260K');
  });

  it('the Ollama API: `format` with a JSON schema is passed on, and llama-server holds the model to it', async () => {
    const { url } = await onLlama();
    const ollama = new Ollama({ host: url });
    const format = { type: 'object', properties: { name: { type: 'string', maxLength: 8 }, happy: { type: 'boolean' } }, required: ['name', 'happy'] };
    const answer = await ollama.chat({ model, messages: [{ role: 'user', content: 'Tell me about a cat.' }], format, options: { num_predict: 300, temperature: 0 } });
    expect(answer.done_reason).toBe('stop');
    const parsed = JSON.parse(answer.message.content) as Record<string, unknown>;
    expect(Object.keys(parsed).sort()).toEqual(['happy', 'name']);
    expect(typeof parsed.happy).toBe('boolean');
    expect((await ollama.list()).models.map((m) => m.name)).toEqual([model]);
  });

  it('llama-server\'s own port answers only mlx-guard: a key of the launch\'s, given as LLAMA_API_KEY (never on its command line), is required of a completion', async () => {
    const { sidecar, url } = await onLlama();
    const serving = sidecar.supervisor.serving!;
    expect(serving.apiKey).toMatch(/^[\w-]{32}$/);
    const direct = port(serving.baseUrl);
    const body = JSON.stringify({ messages: hello, max_tokens: 2 });
    expect((await rawRequest(direct, post('/v1/chat/completions', body))).status).toBe(401);
    expect((await rawRequest(direct, post('/v1/chat/completions', body, 'Authorization: Bearer guessed\r\n'))).status).toBe(401);
    expect((await rawRequest(direct, post('/v1/chat/completions', body, `Authorization: Bearer ${serving.apiKey}\r\n`))).status).toBe(200);
    expect((await rawRequest(port(url), post('/v1/chat/completions', body))).status).toBe(200);
    if (existsSync('/proc/self/cmdline')) expect(readFileSync(`/proc/${sidecar.supervisor.status.pid}/cmdline`, 'utf8')).not.toContain(serving.apiKey!);
  });

  it('text completions from the trained model: greedy "Once upon a time" goes on as TinyStories does', async () => {
    const { client } = await onLlama();
    const answer = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 16, temperature: 0 });
    expect(answer.choices[0]!.text).toMatch(/^, there was a little girl named Lily\./);
  });

  it('the request shapes current OpenAI clients send are served (unknown fields dropped); wrong types are refused by name', async () => {
    const { client, sidecar } = await onLlama();
    const calls = sidecar.inferenceBreaker.getMetrics().totalCalls;
    await expectCurrentRequestShapesServed(client, model, hello);
    expect(sidecar.inferenceBreaker.getMetrics().totalCalls).toBe(calls + 1); // the served request alone
  });

  it('a prompt over the model\'s context: 400 with llama-server\'s own reason, and the breaker untouched', async () => {
    const { client, sidecar } = await onLlama();
    const error = await client.completions.create({ model: 'stories260K', prompt: 'story '.repeat(1_000), max_tokens: 4 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 400, error: { code: 'upstream_rejected' } });
    expect((error as Error).message).toMatch(/exceeds the available context size \(512 tokens\)/);
    expect(sidecar.inferenceBreaker.getState()).toBe('closed');
  });

  it('8 concurrent streams all complete; 200 back-to-back streams on the keep-alive server all succeed', async () => {
    const { client } = await onLlama();
    const one = async () => {
      let text = '';
      for await (const chunk of await client.chat.completions.create({ model, messages: hello, max_tokens: 24, stream: true })) text += chunk.choices[0]?.delta.content ?? '';
      return text;
    };
    const texts = await Promise.all(Array.from({ length: 8 }, one));
    for (const text of texts) expect(text).toMatch(/\w/);
    for (let i = 0; i < 200; i++) expect(await one(), `stream ${i}`).toMatch(/\w/);
  });

  it('a client that goes away mid-stream costs nothing: the next request is served and the breaker counts no failure', async () => {
    const { client, sidecar } = await onLlama();
    const controller = new AbortController();
    const stream = await client.chat.completions.create({ model, messages: hello, max_tokens: 400, stream: true }, { signal: controller.signal });
    let finished = false;
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.finish_reason) finished = true;
        if (chunk.choices[0]?.delta.content) controller.abort();
      }
    } catch (error) {
      expect((error as Error).name).toMatch(/Abort/); // the client's own abort, however it surfaces
    }
    expect(finished).toBe(false); // gone before the answer's end
    expect((await client.chat.completions.create({ model, messages: hello, max_tokens: 4 })).choices[0]!.message.content).toMatch(/\w/);
    expect(sidecar.inferenceBreaker.getMetrics().failures).toBe(0);
  });

  it('SIGKILL: restarted at once; a request sent meanwhile gets its answer or a 503 with Retry-After, never a hang or a 502', async () => {
    const { url, sidecar } = await onLlama();
    const first = sidecar.supervisor.status.pid!;
    process.kill(first, 'SIGKILL');
    const answer = await rawRequest(port(url), post('/v1/chat/completions', JSON.stringify({ messages: hello, max_tokens: 4 })), 15_000);
    expect([200, 503]).toContain(answer.status);
    if (answer.status === 503) expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    await until('a new model server', () => (sidecar.supervisor.state === 'ready' && sidecar.supervisor.status.pid !== first ? true : undefined), 10_000);
    expect((await rawRequest(port(url), post('/v1/chat/completions', JSON.stringify({ messages: hello, max_tokens: 4 })))).status).toBe(200);
    expect(sidecar.supervisor.status.restarts.crash).toBe(1);
    expect(isAlive(first)).toBe(false);
  });

  it('SIGSTOP at default settings: caught within seconds, restarted, and a request waiting on the frozen server is replayed', async () => {
    const { url, sidecar } = await onLlama();
    const frozen = sidecar.supervisor.status.pid!;
    const stoppedAt = performance.now();
    process.kill(frozen, 'SIGSTOP');
    try {
      const waiting = rawRequest(port(url), post('/v1/chat/completions', JSON.stringify({ messages: hello, max_tokens: 4 })), 30_000);
      await until('the freeze to be caught', () => (sidecar.supervisor.state !== 'ready' ? true : undefined), 10_000);
      const caughtMs = performance.now() - stoppedAt;
      const answer = await waiting;
      expect(answer.status, answer.body).toBe(200);
      expect(answer.headers['x-mlx-guard-replayed']).toBe('1');
      // Liveness probes every 1 s with a 1.5 s deadline, 2 failed in a row: at worst about 5 s.
      expect(caughtMs).toBeLessThan(8_000);
      expect(sidecar.supervisor.status.pid).not.toBe(frozen);
      await until('the frozen process to be gone', () => (isAlive(frozen) ? undefined : true), 10_000);
    } finally {
      if (isAlive(frozen)) process.kill(frozen, 'SIGKILL');
    }
  });

  it('mlx-guard start -- llama-server …: no config file; on SIGTERM it exits 0 and leaves no model server behind', async () => {
    const cli = new URL('../../src/cli.ts', import.meta.url).pathname;
    const guard = spawnProcess(process.execPath, ['--import', 'tsx', cli, 'start', '--port', '0', '--supervisor.run-dir', privateDir(), '--', ...llamaServerCommand()], { env: { MLX_GUARD_LOG_LEVEL: 'info' } });
    const url = await until('the serving line', () => guard.stdout.map((line) => /"event":"serving","url":"([^"]+)"/.exec(line)?.[1]).find(Boolean), 20_000);
    const status = JSON.parse((await rawRequest(port(url), 'GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).body) as { modelServer: { pid: number; backend: string } };
    expect(status.modelServer.backend).toBe('command');
    const child = status.modelServer.pid;
    expect(isAlive(child)).toBe(true);
    expect((await rawRequest(port(url), post('/v1/completions', JSON.stringify({ prompt: 'Once upon a time', max_tokens: 4 })))).status).toBe(200);
    process.kill(guard.pid, 'SIGTERM');
    expect(await guard.exited(15_000)).toEqual({ code: 0, signal: null });
    expect(isAlive(child)).toBe(false);
  });
});

describe('a mixed fleet', () => {
  it('an mlx model (the stand-in) and llama-server serving a GGUF (backend command) in one mlx-guard, each answering under its own name; the GGUF file is what its memory estimate reads', async () => {
    const { client, url, sidecar } = await startSidecar(
      {
        models: {
          served: [
            { name: 'local-mlx', backend: 'standin', model: 'org/test-model', serverArgs: ['--control', '--script', JSON.stringify([{ text: 'from the stand-in' }])], pin: true },
            { name: 'gguf', backend: 'command', command: llamaServerCommand() },
          ],
        },
      },
      [],
      { atDefaults: true },
    );
    expect((await client.chat.completions.create({ model: 'local-mlx', messages: hello, max_tokens: 12 })).choices[0]!.message.content).toBe('from the stand-in');
    const gguf = await client.chat.completions.create({ model: 'gguf', messages: hello, max_tokens: 12 });
    expect(gguf.model).toBe('gguf');
    expect(gguf.choices[0]!.message.content).toMatch(/\w/);
    expect(gguf.usage).toMatchObject({ completion_tokens: 12 });
    const [mlxServer, llama] = sidecar.models.models;
    expect(mlxServer!.supervisor.status.backend).toBe('standin');
    expect(llama!.supervisor.status.backend).toBe('command');
    expect(isAlive(llama!.supervisor.status.pid!)).toBe(true);
    // Streamed too, and the models list says both are loaded.
    let text = '';
    for await (const chunk of await client.chat.completions.create({ model: 'gguf', messages: hello, max_tokens: 8, stream: true })) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toMatch(/\w/);
    const listed = (await (await fetch(`${url}/v1/models`)).json()) as { data: Array<{ id: string; state: string }> };
    expect(listed.data.map(({ id, state }) => [id, state])).toEqual([
      ['local-mlx', 'ready'],
      ['gguf', 'ready'],
    ]);
    const admin = (await (await fetch(`${url}/admin/models`)).json()) as { models: Array<{ name: string; memoryBytes: number }> };
    expect(admin.models[1]!.memoryBytes).toBeGreaterThanOrEqual(readFileSync(llamaServerCommand()[2]!).length);
  });
});
