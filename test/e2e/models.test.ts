// Several models in one mlx-guard (models.served), each a stand-in of its own scripted to say its
// name: a request's model name chooses the model server, an unloaded model is loaded for the
// request that asks for it, an idle one is unloaded, an unknown name is 404 in each API's shape,
// and a model that cannot start is given up on alone.
import Anthropic from '@anthropic-ai/sdk';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { closeSync, existsSync, ftruncateSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isAlive, privateDir, until } from '../support/processes.js';
import { startSidecar } from '../support/sidecar.js';

/** A served model whose stand-in answers every request with `text`. */
const served = (name: string, text: string, fields: Record<string, unknown> = {}) => ({ name, serverArgs: ['--control', '--script', JSON.stringify([{ text }])], ...fields });

const ask = (url: string, model: string) =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 32 }), signal: AbortSignal.timeout(20_000) });

const listed = async (url: string) => ((await (await fetch(`${url}/v1/models`)).json()) as { data: Array<{ id: string; state: string }> }).data.map(({ id, state }) => [id, state]);

describe('several models', () => {
  it('each name (or alias) goes to its own model server, an unloaded one loaded for the request that asks; an unknown name is 404 model_not_found in each API', async () => {
    const { url, client, sidecar } = await startSidecar({ models: { served: [served('alpha', 'from alpha', { aliases: ['a'], pin: true }), served('beta', 'from beta')] } });
    expect(await listed(url)).toEqual([
      ['alpha', 'ready'],
      ['beta', 'stopped'],
    ]);
    const answer = (model: string) => client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 32 });
    expect((await answer('alpha')).choices[0]!.message.content).toBe('from alpha');
    expect((await answer('a')).choices[0]!.message.content).toBe('from alpha');
    const beta = await answer('beta');
    expect(beta.choices[0]!.message.content).toBe('from beta');
    expect(beta.model).toBe('beta');
    expect(await listed(url)).toEqual([
      ['alpha', 'ready'],
      ['beta', 'ready'],
    ]);
    const pids = sidecar.models.models.map((model) => model.supervisor.status.pid!);
    expect(new Set(pids).size).toBe(2);
    for (const pid of pids) expect(isAlive(pid)).toBe(true);
    // Each model server is recorded in its own file, so a crash of mlx-guard leaves neither behind.
    const runDir = sidecar.supervisor.options.runDir;
    for (const slot of ['m0', 'm1']) expect(existsSync(join(runDir, `child-${process.pid}-${slot}.json`))).toBe(true);

    await expect(answer('gpt-4o')).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
    const refused = await ask(url, 'gpt-4o');
    expect(((await refused.json()) as { error: { message: string; param: string } }).error).toMatchObject({ param: 'model', message: expect.stringMatching(/no model "gpt-4o" is served here; GET \/v1\/models lists those/) });
    const anthropic = new Anthropic({ baseURL: url, apiKey: 'not-needed', maxRetries: 0 });
    await expect(anthropic.messages.create({ model: 'claude-sonnet-4', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status: 404, error: { type: 'error', error: { type: 'not_found_error' } } });
    expect((await anthropic.messages.create({ model: 'beta', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] })).content).toEqual([{ type: 'text', text: 'from beta' }]);
    const ollama = await fetch(`${url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'llama3', messages: [{ role: 'user', content: 'hi' }], stream: false }) });
    expect(ollama.status).toBe(404);
    expect(((await ollama.json()) as { error: string }).error).toMatch(/no model "llama3" is served here/);
    const ollamaTags = (await (await fetch(`${url}/api/tags`)).json()) as { models: Array<{ name: string }> };
    expect(ollamaTags.models.map(({ name }) => name)).toEqual(['alpha', 'beta']);

    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('mlx_guard_breaker_inference_state{model="alpha"} 0');
    expect(metrics).toContain('mlx_guard_breaker_inference_state{model="beta"} 0');
    const health = (await (await fetch(`${url}/health`)).json()) as { status: string; models: Array<{ name: string; state: string }> };
    expect(health.status).toBe('ok');
    expect(health.models.map(({ name, state }) => [name, state])).toEqual([
      ['alpha', 'ready'],
      ['beta', 'ready'],
    ]);
    const ps = (await (await fetch(`${url}/api/ps`)).json()) as { models: Array<{ name: string; expires_at: string }> };
    expect(ps.models.map(({ name }) => name)).toEqual(['alpha', 'beta']);
    expect(ps.models[0]!.expires_at).toBe('2318-01-01T00:00:00Z');
    expect(Date.parse(ps.models[1]!.expires_at)).toBeGreaterThan(Date.now() + 14 * 60_000);
  });

  it('a model nobody asks for is unloaded after its ttlMs (its process gone, its record removed); asked again, it is loaded and answers', async () => {
    const { url, sidecar } = await startSidecar({ models: { served: [served('alpha', 'from alpha', { pin: true }), served('beta', 'from beta', { ttlMs: 300 })] } });
    expect((await ask(url, 'beta')).status).toBe(200);
    const beta = sidecar.models.models[1]!;
    const pid = beta.supervisor.status.pid!;
    await until('beta unloaded', () => (beta.supervisor.state === 'stopped' ? true : undefined), 10_000);
    await until('its process gone', () => (isAlive(pid) ? undefined : true), 5_000);
    expect(existsSync(join(sidecar.supervisor.options.runDir, `child-${process.pid}-m1.json`))).toBe(false);
    expect(await listed(url)).toEqual([
      ['alpha', 'ready'],
      ['beta', 'stopped'],
    ]);
    const again = await ask(url, 'beta');
    expect(again.status).toBe(200);
    expect(((await again.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content).toBe('from beta');
    expect(beta.supervisor.status.pid).not.toBe(pid);
    // The pinned model stays, however long nobody asks for it.
    expect(sidecar.models.models[0]!.supervisor.state).toBe('ready');
  });

  it('a model that cannot start is given up on alone: its requests get 503 saying why, the others are served, and /health stays ready', async () => {
    const { url, sidecar } = await startSidecar({ models: { served: [served('alpha', 'from alpha', { pin: true }), served('broken', 'never', { serverArgs: ['--exit-during-load'] })] } });
    const refused = await ask(url, 'broken');
    expect(refused.status).toBe(503);
    const { error } = (await refused.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('model_server_unavailable');
    expect(error.message).toMatch(/the model server is fatal/);
    expect(sidecar.models.models[1]!.supervisor.state).toBe('fatal');
    expect((await ask(url, 'alpha')).status).toBe(200);
    expect((await fetch(`${url}/health`)).status).toBe(200);
  });
});

describe('a model that crash-loops', () => {
  it('is given up on alone once its restart budget is spent, while the other model answers every request meanwhile; the others\' breakers and budgets are untouched', async () => {
    const { url, sidecar } = await startSidecar({
      supervisor: { restart: { maxRestarts: 3 } },
      models: { served: [served('alpha', 'from alpha', { pin: true }), served('crashy', 'never', { serverArgs: ['--control', '--crash-after-tokens', '1'] })] },
    });
    const alphaAnswers: number[] = [];
    let asking = true;
    const meanwhile = (async () => {
      while (asking) alphaAnswers.push((await ask(url, 'alpha')).status);
    })();
    const refused = await ask(url, 'crashy');
    asking = false;
    await meanwhile;
    expect(refused.status).toBe(503);
    const { error } = (await refused.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('model_server_unavailable');
    expect(error.message).toMatch(/the model server is fatal \(.*restarts within/);
    const [alpha, crashy] = sidecar.models.models;
    expect(crashy!.supervisor.status.fatal?.reason).toBe('restart_budget_exhausted');
    expect(alphaAnswers.length).toBeGreaterThan(5);
    expect(alphaAnswers.every((status) => status === 200)).toBe(true);
    expect(alpha!.supervisor.status.restarts).toEqual({});
    expect(alpha!.inferenceBreaker.getState()).toBe('closed');
    expect((await fetch(`${url}/health`)).status).toBe(200);
  }, 60_000);
});

describe('waiting for a model to load', () => {
  it('a streaming client hears a keepalive every 5 s while its model loads, then gets the answer; one that prefers not to wait (Prefer: wait=0) gets 503 with the load\'s progress, and the load goes on', async () => {
    const slow = (name: string) => ({ name, serverArgs: ['--control', '--load-time-ms', '6000', '--script', JSON.stringify([{ text: `from ${name}` }])] });
    const { url, sidecar } = await startSidecar({ models: { served: [served('alpha', 'from alpha', { pin: true }), slow('beta'), slow('gamma')] } });
    const started = Date.now();
    const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'beta', messages: [{ role: 'user', content: 'hi' }], max_tokens: 32, stream: true }), signal: AbortSignal.timeout(30_000) });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let firstAt: number | undefined;
    for (let piece = await reader.read(); !piece.done; piece = await reader.read()) {
      firstAt ??= Date.now();
      text += decoder.decode(piece.value, { stream: true });
    }
    expect(text).toMatch(/^: mlx-guard: loading the model beta\n\n/);
    // The load takes 6 s: what came first, at 5 s, was the keepalive.
    expect(firstAt! - started).toBeGreaterThanOrEqual(4_500);
    const content = text
      .split('\n')
      .filter((line) => line.startsWith('data: {'))
      .map((line) => (JSON.parse(line.slice(6)) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '')
      .join('');
    expect(content).toBe('from beta');
    expect(text).toContain('data: [DONE]');

    const impatient = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', prefer: 'wait=0' }, body: JSON.stringify({ model: 'gamma', messages: [{ role: 'user', content: 'hi' }], max_tokens: 32 }) });
    expect(impatient.status).toBe(503);
    expect(Number(impatient.headers.get('retry-after'))).toBeGreaterThan(0);
    const { error } = (await impatient.json()) as { error: { code: string; message: string } };
    expect(error).toMatchObject({ code: 'model_server_unavailable', message: expect.stringMatching(/^the model gamma is loading( \(.+\))?; it goes on loading: retry shortly$/) });
    const gamma = sidecar.models.models[2]!;
    await until('gamma loaded without another request', () => (gamma.supervisor.state === 'ready' ? true : undefined), 15_000);
    expect((await ask(url, 'gamma')).status).toBe(200);
    expect(gamma.supervisor.status.restarts).toEqual({});
  }, 40_000);
});

describe('the admin routes for models', () => {
  it('GET /admin/models lists each model; POST …/load loads one (a repo id with its slash, encoded or not) and answers once it is ready; …/unload stops it; `mlx-guard status` shows a row each', async () => {
    const { url } = await startSidecar({ models: { served: [served('alpha', 'from alpha', { pin: true }), served('org/beta', 'from beta')] } });
    const admin = (path: string, method = 'POST') => fetch(`${url}${path}`, { method, signal: AbortSignal.timeout(20_000) });
    const list = async () => ((await (await admin('/admin/models', 'GET')).json()) as { budgetBytes: number; models: Array<{ name: string; state: string; memoryBytes: number | null; pin: boolean }> });
    const before = await list();
    expect(before.budgetBytes).toBeGreaterThan(0);
    expect(before.models.map(({ name, state, pin }) => [name, state, pin])).toEqual([
      ['alpha', 'ready', true],
      ['org/beta', 'stopped', false],
    ]);
    const loaded = await admin('/admin/models/org%2Fbeta/load');
    expect(loaded.status).toBe(200);
    expect(((await loaded.json()) as { state: string; memoryBytes: number }).state).toBe('ready');
    expect((await list()).models[1]!.memoryBytes).toBeGreaterThan(0);

    // Run beside this process's event loop, which serves the status it asks for.
    const status = await promisify(execFile)(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../../src/cli.ts', import.meta.url)), 'status', '--url', url], { encoding: 'utf8', timeout: 20_000 });
    expect(status.stdout).toMatch(/model alpha\s+ready · pinned · [\d.]+ GB/);
    expect(status.stdout).toMatch(/model org\/beta\s+ready · [\d.]+ GB · last asked \d+ s ago · 0 in flight · breaker closed · 0 restart\(s\)/);
    expect(status.stdout).toMatch(/memory\s+[\d.]+ GB of [\d.]+ GB held by loaded models/);

    const unloaded = await admin('/admin/models/org/beta/unload');
    expect(unloaded.status).toBe(200);
    expect(((await unloaded.json()) as { state: string }).state).toBe('stopped');
    expect((await admin('/admin/models/gpt-4o/load')).status).toBe(404);
    expect((await admin('/admin/models/alpha/restart')).status).toBe(404);
  });

  it('with one model (no models.served) there is nothing to load or unload: 404 that says so', async () => {
    const { url } = await startSidecar();
    const refused = await fetch(`${url}/admin/models/org%2Ftest-model/unload`, { method: 'POST' });
    expect(refused.status).toBe(404);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/mlx-guard serves one model \(no models\.served\)/);
  });
});

/** A model folder the memory estimate reads: a config and weights of `megabytes` (a sparse file: the size is what counts). */
function modelFolder(megabytes: number): string {
  const dir = privateDir('mlx-guard-weights-');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', num_hidden_layers: 2, num_attention_heads: 4, hidden_size: 64, max_position_embeddings: 2048 }));
  const weights = openSync(join(dir, 'model.safetensors'), 'w');
  ftruncateSync(weights, megabytes * 1024 * 1024);
  closeSync(weights);
  return dir;
}

const MB = 1024 * 1024;

/** A stand-in model whose weights on disk and resident memory once loaded are `megabytes`. */
const weighing = (name: string, megabytes: number, fields: Record<string, unknown> = {}) => served(name, `from ${name}`, { model: modelFolder(megabytes), serverArgs: ['--control', '--script', JSON.stringify([{ text: `from ${name}` }]), '--footprint-mb', String(megabytes)], ...fields });

describe('several models under a memory budget', () => {
  it('a budget that holds two of three: each switch unloads the least recently used idle model first, nothing is lost, and the budget is never passed', async () => {
    const { url, sidecar } = await startSidecar({ models: { served: [weighing('a', 200), weighing('b', 200), weighing('c', 200)], memoryBudgetBytes: 700 * MB } });
    const state = () => sidecar.models.models.map((model) => model.supervisor.state);
    let worst = 0;
    const sampler = setInterval(() => {
      void sidecar.models.memoryHeld().then((held) => (worst = Math.max(worst, held!.models.reduce((sum, { bytes }) => sum + bytes, 0))));
    }, 100);
    try {
      for (const name of ['a', 'b', 'a']) expect((await ask(url, name)).status).toBe(200);
      expect(state()).toEqual(['ready', 'ready', 'stopped']);
      // b was used least recently: c takes its place.
      expect((await ask(url, 'c')).status).toBe(200);
      expect(state()).toEqual(['ready', 'stopped', 'ready']);
      // Now a is the least recent.
      const answers = await Promise.all(['b', 'c', 'b'].map((name) => ask(url, name)));
      expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
      expect(state()).toEqual(['stopped', 'ready', 'ready']);
      const held = (await sidecar.models.memoryHeld())!;
      expect(held.models.map(({ name }) => name)).toEqual(['b', 'c']);
      for (const { bytes } of held.models) expect(bytes).toBeGreaterThan(200 * MB);
    } finally {
      clearInterval(sampler);
    }
    expect(worst).toBeGreaterThan(400 * MB);
    expect(worst).toBeLessThanOrEqual(700 * MB);
  });

  it('a pinned model is never evicted; a model bigger than the whole budget is refused before it loads (507, with the numbers)', async () => {
    const { url, sidecar } = await startSidecar({ models: { served: [weighing('pinned', 200, { pin: true }), weighing('x', 200), weighing('y', 200), weighing('huge', 700)], memoryBudgetBytes: 700 * MB } });
    for (const name of ['x', 'y', 'x']) expect((await ask(url, name)).status).toBe(200);
    expect(sidecar.models.models.map((model) => model.supervisor.state)).toEqual(['ready', 'ready', 'stopped', 'stopped']);
    const refused = await ask(url, 'huge');
    expect(refused.status).toBe(507);
    const { error } = (await refused.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('model_too_large');
    expect(error.message).toMatch(/the model huge needs about 0\.78 GB \(weights, KV cache and its server\), more than the memory budget of 0\.68 GB/);
    expect(sidecar.models.models[3]!.supervisor.status.pid).toBeUndefined();
    expect(sidecar.models.models[0]!.supervisor.state).toBe('ready');
  });
});
