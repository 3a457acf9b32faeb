import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ModelCatalog, ModelFacts } from '../catalog/index.js';
import type { Config } from '../config.js';
import type { Fleet } from '../fleet/index.js';
import type { Serving } from '../supervisor/index.js';
import type { Logger } from '../observability/logger.js';
import type { ServedModel } from './dependencies.js';
import { sendError, sendJson } from './responses.js';

/** How long `/v1/models` waits for a `command` backend's own list before answering without it. */
const UPSTREAM_LIST_MS = 2_000;

/**
 * The names of what is served. With `models.served`, the configured names. Else the one model:
 * mlx_lm.server's own `/v1/models` lists every model in the Hugging Face cache, not the one it
 * serves, so for mlx (and the stand-in) it is the configured model; a `command` backend
 * (llama-server, vLLM…) is asked, since only it knows. The allow-list follows: names a client may
 * switch to.
 */
export async function servedModels(config: Config, models: Fleet<ServedModel>, logger: Logger): Promise<string[]> {
  if (!models.catchAll) return models.models.map((model) => model.name);
  const { supervisor } = models.primary;
  const names: string[] = [];
  if (supervisor.options.backend === 'command') names.push(...(await upstreamModels(supervisor.serving, logger)));
  if (names.length === 0) names.push(supervisor.options.model ?? 'default_model');
  return [...new Set([...names, ...config.models.allow])];
}

async function upstreamModels(serving: Serving | undefined, logger: Logger): Promise<string[]> {
  if (serving === undefined) return [];
  try {
    const headers: Record<string, string> = serving.apiKey === undefined ? {} : { authorization: `Bearer ${serving.apiKey}` };
    const response = await fetch(`${serving.baseUrl}/v1/models`, { headers, signal: AbortSignal.timeout(UPSTREAM_LIST_MS) });
    const body = (await response.json()) as { data?: Array<{ id?: unknown }> };
    if (!response.ok || !Array.isArray(body.data)) throw new Error(`answered ${response.status} without a model list`);
    return body.data.map((entry) => entry.id).filter((id): id is string => typeof id === 'string');
  } catch (error) {
    logger.warn({ event: 'model_list_failed', err: error }, 'the model server did not list its models; /v1/models names the configured one');
    return [];
  }
}

/** Where a served name's model is (a repo id or a folder): with `models.served`, its model server's; else the name itself. */
export const modelPath = (models: Fleet<ServedModel>, name: string) => (models.catchAll ? name : (models.find(name)?.supervisor.options.model ?? name));

/** A model's context window as clients are told it: the operator's word (`anthropic.contextTokens`) over the model's own. */
export const contextWindow = (config: Config, facts: ModelFacts | undefined) => config.anthropic.contextTokens ?? facts?.contextLength;

/**
 * A model in OpenAI's shape, with its context window where known: `context_length` (Open WebUI,
 * Continue) and `max_model_len` (vLLM's name, which Cline reads).
 */
const describe = (id: string, window: number | undefined) => ({ id, object: 'model', created: Math.floor(Date.now() / 1000), owned_by: 'mlx-guard', ...(window ? { context_length: window, max_model_len: window } : {}) });

/**
 * `GET /v1/models` and `GET /v1/models/{id}`, in OpenAI's shapes. With `models.served`, each
 * model also says whether it is loaded (`state`: its model server's, `stopped` when unloaded).
 */
export async function sendModels(req: IncomingMessage, res: ServerResponse, served: () => Promise<string[]>, models: Fleet<ServedModel>, config: Config, catalog: ModelCatalog): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  const names = await served();
  const stateOf = (name: string) => (models.catchAll ? {} : { state: models.find(name)?.supervisor.state });
  const described = async (name: string) => ({ ...describe(name, contextWindow(config, await catalog.facts(modelPath(models, name)))), ...stateOf(name) });
  if (path === '/v1/models') return sendJson(res, 200, { object: 'list', data: await Promise.all(names.map(described)) });
  let id = path.slice('/v1/models/'.length);
  try {
    id = decodeURIComponent(id);
  } catch {
    // Not percent-encoding after all: the name as written.
  }
  if (!names.includes(id)) return sendError(res, 'not_found', `no model "${id}" is served here; GET /v1/models lists those that are`, { param: 'model' });
  sendJson(res, 200, await described(id));
}
