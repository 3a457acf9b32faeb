import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { anthropicCountTokensApi, anthropicMessagesApi } from './apis/anthropic.js';
import type { Api, ErrorWriter } from './apis/api.js';
import { ollamaChatApi, ollamaGenerateApi } from './apis/ollama.js';
import { openAiApi } from './apis/openai.js';
import { responsesApi, storedResponseRoutes } from './apis/responses.js';
import { ModelCatalog } from '../catalog/index.js';
import { ResponseStore } from '../responses/index.js';
import { handleCompletion, type CompletionDependencies } from './completions.js';
import { sendError, sendJson } from './responses.js';
import { sendModels, servedModels } from './models.js';
import { ollamaModelRoutes } from './ollama-models.js';
import { adminModelRoutes, modelAction } from './admin-models.js';
import { ConnectionSlots } from './connection-slots.js';
import { RequestGuard } from './request-guard.js';
import { PAGE_PATHS, sendPage, StatusStreams } from './status-page.js';
import { StatusBoard } from './status.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

/** An admin action on one model, as its route: the name may hold slashes (a repo id). */
const adminModelPath = (requested: string) => {
  const action = modelAction(requested);
  return action ? `/admin/models/{name}/${action.action}` : requested;
};

const INFERENCE_ROUTES = new Set(['/v1/chat/completions', '/chat/completions', '/v1/completions', '/v1/messages', '/v1/responses', '/api/chat', '/api/generate']);
/** The routes that read a request body (any other one closes a connection that sent one). */
const BODY_ROUTES = new Set([...INFERENCE_ROUTES, '/v1/messages/count_tokens', '/api/show']);

const isLoopback = (host: string) => host === '127.0.0.1' || host === 'localhost' || host === '::1';

const hasBody = (req: IncomingMessage) => (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined;

/** Compared in constant time, so that the time taken does not tell how much of a guess was right. */
function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The front HTTP server: mlx_lm.server's routes (exact paths, as it matches them), plus /health,
 * /metrics, /status and the admin actions. Web pages are checked first (request-guard.ts): a
 * foreign origin or, on loopback, a foreign Host is 403; allowed origins get CORS headers and
 * preflights. Unknown paths are 404, known paths with the wrong method 405; nothing answers with
 * a stack trace.
 */
export function createApp(deps: CompletionDependencies): Server {
  const { config, parseBreaker, metrics, models } = deps;
  // The status, the admin actions and /health's details are the first model's (the only one, unless models.served lists several).
  const { supervisor, inferenceBreaker } = models.primary;
  const board = new StatusBoard(deps);
  const statusStreams = new StatusStreams();
  const guard = new RequestGuard({ loopback: isLoopback(config.host), allowedOrigins: config.allowedOrigins, allowedHosts: config.allowedHosts });
  const served = () => servedModels(config, models, deps.logger);
  const catalog = new ModelCatalog();
  const listModels: Handler = (req, res) => sendModels(req, res, served, models, config, catalog);
  /** /health is ready while every pinned model serves (the one model, unless models.served says otherwise). */
  const pinned = models.models.filter((model) => model.pin);
  const chat = openAiApi('chat');
  const text = openAiApi('text');
  const { store, storeBytes, storeTtlMs } = config.responses;
  const responseStore = new ResponseStore({ maxEntries: store, maxBytes: storeBytes, ttlMs: storeTtlMs });

  /** The API's routes, once an API key is set: `Authorization: Bearer <key>` or `x-api-key: <key>` (Anthropic clients send either). */
  const keyed = (refuse: ErrorWriter, handler: Handler): Handler => (req, res) => {
    const key = config.apiKey;
    if (key !== undefined) {
      const bearer = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      const given = [bearer, String(req.headers['x-api-key'] ?? '')];
      if (!given.some((value) => sameSecret(value, key))) return refuse(res, 'unauthorized', 'this route needs the API key: "Authorization: Bearer <key>" or "x-api-key: <key>"');
    }
    return handler(req, res);
  };
  const inference = (api: Api): Handler => keyed(api.sendError, (req, res) => handleCompletion(api, req, res, deps));
  const kept = storedResponseRoutes(responseStore);
  const modelAdmin = adminModelRoutes(models);

  /**
   * Who may see the status: with an admin token set, whoever presents it is an admin (log lines,
   * pid, the buttons), anyone else on loopback sees the rest, and off loopback nobody else sees
   * anything. Without a token (loopback only), everyone there is an admin.
   */
  const viewer = (show: (req: IncomingMessage, res: ServerResponse, isAdmin: boolean) => Promise<void> | void): Handler => (req, res) => {
    const token = config.adminToken;
    const isAdmin = token === undefined ? isLoopback(config.host) : sameSecret((req.headers.authorization ?? '').replace(/^Bearer /, ''), token);
    if (!isAdmin && !isLoopback(config.host)) return sendError(res, 'unauthorized', 'the status needs "Authorization: Bearer <admin token>" when mlx-guard serves beyond loopback');
    return show(req, res, isAdmin);
  };

  const admin = (action: Handler): Handler => (req, res) => {
    const type = req.headers['content-type'];
    if (type !== undefined && !/^application\/json\s*(;|$)/i.test(type)) {
      return sendError(res, 'unsupported_media_type', `admin actions take no body or a JSON one (got Content-Type: ${type.slice(0, 100)})`);
    }
    const token = config.adminToken;
    if (token || !isLoopback(config.host)) {
      if (!token || !sameSecret((req.headers.authorization ?? '').replace(/^Bearer /, ''), token)) {
        return sendError(res, 'unauthorized', 'admin actions need "Authorization: Bearer <admin token>"');
      }
    }
    return action(req, res);
  };

  const routes: Record<string, Partial<Record<string, Handler>>> = {
    '/v1/chat/completions': { POST: inference(chat) },
    '/chat/completions': { POST: inference(chat) },
    '/v1/completions': { POST: inference(text) },
    '/v1/messages': { POST: inference(anthropicMessagesApi) },
    '/v1/responses': { POST: inference(responsesApi(responseStore)) },
    '/v1/responses/{id}': { GET: keyed(sendError, kept.GET), DELETE: keyed(sendError, kept.DELETE) },
    '/v1/messages/count_tokens': { POST: inference(anthropicCountTokensApi) },
    '/api/chat': { POST: inference(ollamaChatApi) },
    '/api/generate': { POST: inference(ollamaGenerateApi) },
    ...ollamaModelRoutes(config, models, served, catalog),
    // Claude Code's warm-up probe: any answer will do.
    '/api/hello': { HEAD: (_req, res) => void res.writeHead(200).end(), GET: (_req, res) => sendJson(res, 200, { ok: true }) },
    '/v1/models': { GET: listModels },
    '/v1/models/{id}': { GET: listModels },
    '/health': {
      // For load balancers as it is: cheap (no model call), 503 while the node cannot serve or is draining.
      GET: (_req, res) => {
        const ready = pinned.every((model) => model.supervisor.baseUrl !== undefined && model.inferenceBreaker.getState() !== 'open') && !deps.drain.draining;
        sendJson(res, ready ? 200 : 503, {
          status: ready ? 'ok' : deps.drain.draining ? 'draining' : 'unavailable',
          modelServer: { state: supervisor.state, detail: supervisor.status.detail },
          breakers: { inference: inferenceBreaker.getState(), parse: parseBreaker.getState() },
          ...(models.catchAll ? {} : { models: models.models.map((model) => ({ name: model.name, pin: model.pin, state: model.supervisor.state, breaker: model.inferenceBreaker.getState() })) }),
        });
      },
    },
    '/metrics': {
      GET: async (_req, res) => {
        const text = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType, 'content-length': String(Buffer.byteLength(text)) });
        res.end(text);
      },
    },
    ...Object.fromEntries(PAGE_PATHS.map((path) => [path, { GET: (_req: IncomingMessage, res: ServerResponse) => sendPage(res, path) }])),
    '/status': { GET: viewer(async (_req, res, isAdmin) => sendJson(res, 200, await board.snapshot(isAdmin))) },
    '/status/events': { GET: viewer((req, res, isAdmin) => statusStreams.stream(req, res, () => board.snapshot(isAdmin), (error) => deps.logger.error({ event: 'status_stream_error', err: error }, 'the status could not be read; its event stream was ended'))) },
    '/admin/breakers/inference/reset': { POST: admin((_req, res) => (inferenceBreaker.reset(), sendJson(res, 200, { inference: inferenceBreaker.getState() }))) },
    '/admin/breakers/parse/reset': { POST: admin((_req, res) => (parseBreaker.reset(), sendJson(res, 200, { parse: parseBreaker.getState() }))) },
    '/admin/drain': { POST: admin((_req, res) => ((deps.drain.draining = true), sendJson(res, 200, { draining: true }))) },
    '/admin/undrain': { POST: admin((_req, res) => ((deps.drain.draining = false), sendJson(res, 200, { draining: false }))) },
    '/admin/models': { GET: admin(modelAdmin.list) },
    '/admin/models/{name}/load': { POST: admin(modelAdmin.act) },
    '/admin/models/{name}/unload': { POST: admin(modelAdmin.act) },
    '/admin/restart': {
      POST: admin((_req, res) => {
        void supervisor.restart('manual').catch(() => undefined);
        sendJson(res, 202, { restarting: true });
      }),
    },
  };


  // Node checks the headers deadline only every `connectionsCheckingInterval` (30 s by default),
  // which let trickled headers hold a connection for 71 s against a 15 s deadline.
  const slots = new ConnectionSlots(config.maxConnections);
  const server = createServer({ headersTimeout: config.headersTimeoutMs, connectionsCheckingInterval: 1_000 }, (req, res) => {
    const started = performance.now();
    slots.request(req, res);
    // Routed on the path alone: Claude Code adds `?beta=true` to the Messages routes.
    const requested = (req.url ?? '/').split('?')[0]!;
    const path = requested.startsWith('/v1/models/') ? '/v1/models/{id}' : requested.startsWith('/v1/responses/') ? '/v1/responses/{id}' : requested.startsWith('/admin/models/') ? adminModelPath(requested) : requested;
    const route = routes[path];
    // Only the inference routes read a body: any other one's connection closes once answered
    // rather than wait for a body nobody reads (a trickled one would hold the slot for minutes).
    if (!BODY_ROUTES.has(path) && hasBody(req)) res.setHeader('connection', 'close');
    res.on('finish', () => {
      const label = route ? path : 'unknown';
      const ms = performance.now() - started;
      metrics.requests.inc({ route: label, status: String(res.statusCode) });
      metrics.duration.observe({ route: label }, ms / 1000);
      if (INFERENCE_ROUTES.has(path)) deps.traffic.request(res.statusCode, ms);
    });
    const refusal = guard.check(req);
    if (refusal) return sendError(res, 'forbidden', refusal.refused);
    for (const [name, value] of Object.entries(guard.corsHeaders(req))) res.setHeader(name, value);
    if (!route) return sendError(res, 'not_found', `no route ${req.method} ${requested}`);
    if (req.method === 'OPTIONS') return void res.writeHead(204, { allow: [...Object.keys(route), 'OPTIONS'].join(', '), ...guard.preflightHeaders(req, Object.keys(route)) }).end();
    const handler = route[req.method ?? ''];
    if (!handler) return sendError(res, 'method_not_allowed', `${path} does not take ${req.method}`, { headers: { allow: Object.keys(route).join(', ') } });
    Promise.resolve(handler(req, res)).catch((error: unknown) => {
      deps.logger.error({ event: 'handler_error', path, err: error }, 'request handling failed');
      sendError(res, 'internal_error', 'mlx-guard failed while handling this request; see its log');
    });
  });
  slots.watch(server);
  metrics.watchConnections(() => slots.stats);
  return server;
}
