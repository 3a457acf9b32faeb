import { eventually, freePort, privateDir, spawnProcess, type Spawned } from './processes.js';
import { post, rawRequest } from './raw-http.js';

export { realMlx, pinned } from './mlx-install.js';

/** mlx_lm.server alone (no mlx-guard, no host) on an ephemeral port, ready to generate. */
export async function startDirectMlx(python: string, model: string, extraArgs: string[] = []): Promise<Spawned & { portNumber: number; baseUrl: string }> {
  // Given --port 0, the real server binds an ephemeral port but logs "on port 0": pick one first.
  const port = await freePort();
  // An empty Hugging Face cache of its own: without a cache directory, /v1/models sends its
  // headers and then fails (CacheNotFound), leaving an empty body (docs/mlx-lm.md).
  const spawned = spawnProcess(python, ['-m', 'mlx_lm', 'server', '--model', model, '--port', String(port), ...extraArgs], { env: { HF_HUB_OFFLINE: '1', HF_HUB_CACHE: privateDir('mlx-guard-hf-') } });
  await spawned.port(60_000);
  // From 0.31.3 the port opens before the model has loaded: a first token says it is ready.
  await eventually(
    'the direct server to answer a completion',
    async () => ((await rawRequest(port, post('/v1/completions', JSON.stringify({ prompt: 'a', max_tokens: 1 })), 30_000).catch(() => undefined))?.status === 200 ? true : undefined),
    60_000,
    200,
  );
  return { ...spawned, portNumber: port, baseUrl: `http://127.0.0.1:${port}` };
}
