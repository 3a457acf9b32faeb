import type { IncomingMessage, ServerResponse } from 'node:http';
import { MemoryRefusal, type Fleet } from '../fleet/index.js';
import type { ServedModel } from './dependencies.js';
import { sendError, sendJson } from './responses.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

/** `/admin/models/{name}/load` and `/unload`: the name, percent-encoded or not (a repo id has a slash), and the action. */
export function modelAction(path: string): { name: string; action: 'load' | 'unload' } | undefined {
  const match = /^\/admin\/models\/(.+)\/(load|unload)$/.exec(path);
  if (!match) return undefined;
  let name = match[1]!;
  try {
    name = decodeURIComponent(name);
  } catch {
    // Not percent-encoding after all: the name as written.
  }
  return { name, action: match[2] as 'load' | 'unload' };
}

/** What each loaded model holds, by name, and the budget; undefined without one (a single model). */
export async function memoryByName(models: Fleet<ServedModel>): Promise<{ budgetBytes: number; byName: Map<string, number> } | undefined> {
  const held = await models.memoryHeld();
  return held && { budgetBytes: held.budgetBytes, byName: new Map(held.models.map(({ name, bytes }) => [name, bytes])) };
}

/** One model as the admin sees it: its names, whether it is loaded, what it holds, how busy it is. */
export async function describeModel(models: Fleet<ServedModel>, model: ServedModel, heldBytes: Map<string, number> | undefined): Promise<Record<string, unknown>> {
  const { inFlight, lastUsedAt } = models.usage(model);
  const { state, detail, pid, restarts } = model.supervisor.status;
  return {
    name: model.name,
    aliases: model.names.slice(1),
    state,
    detail,
    pin: model.pin,
    preload: model.preload,
    ttlMs: model.ttlMs,
    inFlight,
    lastUsedAt: lastUsedAt === undefined ? null : new Date(lastUsedAt).toISOString(),
    memoryBytes: heldBytes?.get(model.name) ?? null,
    breaker: model.inferenceBreaker.getState(),
    restarts,
    pid: pid ?? null,
  };
}

/**
 * The admin's routes for models: `GET /admin/models` (each model, its state, memory and use, and
 * the budget), `POST /admin/models/{name}/load` (answered once it is ready; a model given up on is
 * tried again) and `POST /admin/models/{name}/unload` (answered once its server has stopped; requests
 * in flight get their grace first).
 */
export function adminModelRoutes(models: Fleet<ServedModel>): { list: Handler; act: Handler } {
  const heldBytes = () => memoryByName(models);
  return {
    async list(_req, res) {
      const held = await heldBytes();
      sendJson(res, 200, { budgetBytes: held?.budgetBytes ?? null, models: await Promise.all(models.models.map((model) => describeModel(models, model, held?.byName))) });
    },
    async act(req, res) {
      const { name, action } = modelAction((req.url ?? '/').split('?')[0]!)!;
      const model = models.catchAll ? undefined : models.find(name);
      if (!model) {
        const why = models.catchAll ? 'mlx-guard serves one model (no models.served): it is loaded at start and stays' : `no model "${name.slice(0, 256)}" is served here; GET /admin/models lists those that are`;
        return sendError(res, 'model_not_found', why, { param: 'model' });
      }
      if (action === 'unload') {
        await models.unload(model, 'an admin asked');
        return sendJson(res, 200, await describeModel(models, model, (await heldBytes())?.byName));
      }
      const gone = new AbortController();
      res.on('close', () => gone.abort());
      const loaded = await models.load(model, gone.signal).catch(() => false as const);
      if (gone.signal.aborted) return;
      if (loaded instanceof MemoryRefusal) return sendError(res, loaded.kind === 'too_large' ? 'model_too_large' : 'model_server_unavailable', loaded.message);
      if (!loaded) {
        const { state, detail } = model.supervisor.status;
        return sendError(res, 'model_server_unavailable', `the model ${model.name} is ${state}${detail ? ` (${detail})` : ''}; it did not load`, { retryAfterSeconds: 10 });
      }
      sendJson(res, 200, await describeModel(models, model, (await heldBytes())?.byName));
    },
  };
}
