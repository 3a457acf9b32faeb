import type { IncomingMessage, ServerResponse } from 'node:http';
import { capabilitiesOf, parameterSize, type ModelCatalog, type ModelFacts } from '../catalog/index.js';
import { showRequest } from '../ollama/index.js';
import { describeIssue } from '../openai/index.js';
import { MemoryReadings } from '../util/process-memory.js';
import type { Config } from '../config.js';
import type { Fleet } from '../fleet/index.js';
import type { ServedModel } from './dependencies.js';
import { sendOllamaError } from './apis/ollama.js';
import { contextWindow, modelPath } from './models.js';
import { readBody, sendJson } from './responses.js';

/**
 * The Ollama API version whose shapes mlx-guard serves: clients check it (VS Code's Ollama
 * provider wants 0.6.4 or newer) before they use the routes.
 */
export const OLLAMA_API_VERSION = '0.13.0';

/** Ollama's `expires_at` for a model kept loaded for good (pinned, or the one model): far ahead. */
const NEVER = '2318-01-01T00:00:00Z';

/** When the model is unloaded unless asked for again: its idle time-out from its last request, or never. */
function expiresAt(models: Fleet<ServedModel>, model: ServedModel): string {
  if (model.pin || model.ttlMs === 0) return NEVER;
  const { inFlight, lastUsedAt } = models.usage(model);
  const from = inFlight > 0 || lastUsedAt === undefined ? Date.now() : lastUsedAt;
  return new Date(from + model.ttlMs).toISOString();
}

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

/** The routes mlx-guard does not serve (501), by Ollama's method for each, and what to do instead. */
const NOT_SERVED: Record<string, { method: 'POST' | 'DELETE'; instead: string }> = {
  '/api/embed': { method: 'POST', instead: 'embeddings are not served: mlx_lm.server has no embedding route' },
  '/api/embeddings': { method: 'POST', instead: 'embeddings are not served: mlx_lm.server has no embedding route' },
  '/api/pull': { method: 'POST', instead: 'mlx-guard serves the model it was started with; download another with `mlx-guard pull <hugging face repo>` and start mlx-guard with --model <repo>' },
  '/api/push': { method: 'POST', instead: 'mlx-guard does not push models: they are Hugging Face repos, pushed with the Hugging Face tools' },
  '/api/create': { method: 'POST', instead: 'mlx-guard does not create models: convert or quantize one with `mlx_lm.convert`, then start mlx-guard with --model <its folder>' },
  '/api/copy': { method: 'POST', instead: 'mlx-guard does not copy models: a model is a folder or a Hugging Face repo; name it with --model' },
  '/api/delete': { method: 'DELETE', instead: 'mlx-guard does not delete models: they live in the Hugging Face cache (`hf cache delete`) or a folder of yours' },
};

const details = (facts: ModelFacts | undefined) => ({
  parent_model: '',
  format: facts ? 'safetensors' : '',
  family: facts?.family ?? '',
  families: facts?.family ? [facts.family] : [],
  parameter_size: facts?.parameterCount ? parameterSize(facts.parameterCount) : '',
  quantization_level: facts?.quantization ?? '',
});

/** How long a reading of the model server's memory is reused: `/api/ps` asked in a loop must not run `ps` (macOS) for each ask. */
const MEMORY_FOR_MS = 2_000;

/**
 * Ollama's routes about models (`/api/version`, `/api/tags`, `/api/show`, `/api/ps`), from the
 * served names and what each model's own files say (catalog/), and the routes mlx-guard does
 * not serve, answered 501 with what to do instead.
 */
export function ollamaModelRoutes(config: Config, models: Fleet<ServedModel>, served: () => Promise<string[]>, catalog: ModelCatalog): Record<string, Partial<Record<string, Handler>>> {
  const factsOf = (name: string) => catalog.facts(modelPath(models, name));
  const readings = new MemoryReadings(MEMORY_FOR_MS);
  const memoryOf = (pid: number) => readings.read(pid);
  const entry = (name: string, facts: ModelFacts | undefined) => ({ name, model: name, modified_at: (facts?.modifiedAt ?? new Date(0)).toISOString(), size: facts?.sizeBytes ?? 0, digest: facts?.digest ?? '', details: details(facts) });

  const show: Handler = async (req, res) => {
    const raw = await readBody(req, res, config, sendOllamaError);
    if (raw === undefined) return;
    const parsed = showRequest.safeParse(raw);
    if (!parsed.success) return sendOllamaError(res, 'invalid_request', describeIssue(parsed.error).message);
    const asked = (parsed.data.model ?? parsed.data.name)!;
    const names = await served();
    // Ollama's clients may add its default tag to a name they were given without one.
    const name = asked.endsWith(':latest') && !names.includes(asked) ? asked.slice(0, -':latest'.length) : asked;
    if (!names.includes(name)) return sendOllamaError(res, 'not_found', `model '${asked.slice(0, 200)}' not found: GET /api/tags lists the models served here`);
    const facts = await factsOf(name);
    const family = facts?.family ?? 'model';
    const window = contextWindow(config, facts);
    sendJson(res, 200, {
      license: '',
      modelfile: '',
      // Ollama's form: a line per parameter, its name padded, then its value.
      parameters: Object.entries(facts?.sampling ?? {})
        .map(([name, value]) => `${name.padEnd(30)}${value}`)
        .join('\n'),
      template: facts?.chatTemplate ?? '',
      details: details(facts),
      model_info: {
        'general.architecture': family,
        ...(facts?.parameterCount ? { 'general.parameter_count': facts.parameterCount } : {}),
        ...(window ? { [`${family}.context_length`]: window } : {}),
      },
      capabilities: capabilitiesOf(facts ?? {}),
      modified_at: (facts?.modifiedAt ?? new Date(0)).toISOString(),
    });
  };

  const routes: Record<string, Partial<Record<string, Handler>>> = {
    '/api/version': { GET: (_req, res) => sendJson(res, 200, { version: OLLAMA_API_VERSION }) },
    '/api/tags': { GET: async (_req, res) => sendJson(res, 200, { models: await Promise.all((await served()).map(async (name) => entry(name, await factsOf(name)))) }) },
    '/api/show': { POST: show },
    '/api/ps': {
      // What is loaded: the model the model server serves, with its memory (unified on a Mac: all of it is the GPU's).
      GET: async (_req, res) => {
        // The one model goes by the first name served (a command backend's own); with models.served, each by its name.
        const names = models.catchAll ? (await served()).slice(0, 1) : models.models.map((model) => model.name);
        const loaded = names.flatMap((name) => {
          const model = models.find(name)!;
          return model.supervisor.serving ? [{ name, model }] : [];
        });
        const described = await Promise.all(
          loaded.map(async ({ name, model }) => {
            const { pid } = model.supervisor.status;
            const [facts, memory] = await Promise.all([factsOf(name), pid === undefined ? undefined : memoryOf(pid)]);
            const listed = entry(name, facts);
            const size = memory ?? listed.size;
            const window = contextWindow(config, facts);
            return { ...listed, size, size_vram: size, expires_at: expiresAt(models, model), ...(window ? { context_length: window } : {}) };
          }),
        );
        sendJson(res, 200, { models: described });
      },
    },
  };
  for (const [path, { method, instead }] of Object.entries(NOT_SERVED)) routes[path] = { [method]: (_req: IncomingMessage, res: ServerResponse) => sendOllamaError(res, 'not_implemented', instead) };
  return routes;
}
