import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CircuitBreaker, CircuitBreakerError, Permit } from '../breaker/index.js';
import type { ModelServerLostError, Serving, Supervisor } from '../supervisor/index.js';
import { describePoison, PoisonList } from '../journal/index.js';
import type { TaskError } from '../pool/messages.js';
import { exceedsBounds, type UpstreamRequest } from '../openai/index.js';
import { UpstreamError } from '../upstream/index.js';
import { epochMs, startTimeline, type Timeline } from '../observability/timeline.js';
import { aborted, within } from '../util/deadlines.js';
import type { CompletionDependencies, ServedModel } from './dependencies.js';
import { MemoryRefusal } from '../fleet/index.js';
import { waitForModel, preferredWaitMs, refuseBy, refuseUnheld, whenClientGone, type Refuse } from './model-wait.js';
import { prepareReplay, type AttemptEnd } from './replay.js';
import type { Api, ApiRequest } from './apis/api.js';
import { answerPipeline, MAX_TOKENS_HEADER, type Responder } from './pipeline.js';
import { readBody, sendJson } from './responses.js';

export type { CompletionDependencies } from './dependencies.js';

/**
 * One completion through validation, the poison list, admission (queue, model server state,
 * inference breaker), the inference pool, tool-call parsing (parse breaker), and back to the
 * client in its own format; sent again on the next model server when its own was lost before the
 * client saw anything. Every send records its breaker outcome exactly once.
 */
export async function handleCompletion(api: Api, req: IncomingMessage, res: ServerResponse, deps: CompletionDependencies): Promise<void> {
  const { config } = deps;
  const timeline = startTimeline(req, res, epochMs());
  const raw = await readBody(req, res, config, api.sendError);
  if (raw === undefined) return;
  timeline?.mark('body');
  // A queue place is taken once the body is in: bodies still arriving hold a connection slot
  // (connection-slots.ts closes the slowest for a newcomer), never a place others need.
  const { maxPendingRequests } = config;
  if (deps.inflight.count >= maxPendingRequests) {
    return api.sendError(res, 'queue_full', `mlx-guard is at its limit of ${maxPendingRequests} requests in flight; retry shortly`, { retryAfterSeconds: 1 });
  }
  deps.inflight.count++;
  try {
    await serveCompletion(api, raw, res, preferredWaitMs(req), deps, timeline);
  } finally {
    deps.inflight.count--;
  }
}

async function serveCompletion(api: Api, raw: unknown, res: ServerResponse, waitMs: number | undefined, deps: CompletionDependencies, timeline: Timeline | undefined): Promise<void> {
  const sendError = api.sendError;
  const read = readRequest(api, raw, deps, res);
  if (!read) return;
  const model = findModel(api, read.model, res, deps);
  if (!model) return;
  // A request known to crash the model server is told so before anything else, even while the
  // server restarts (a client's retry must learn not to retry, not to come back later). Its
  // digest, a hash of the body, costs more than the rest of a refusal: while the list is empty
  // (nearly always) it is made only if something later asks for it (see `sendAdmitted`).
  const { poison } = model.journal;
  const digest = poison.holdsAny ? PoisonList.digest(read.upstream.body) : undefined;
  const poisoned = digest === undefined ? undefined : poison.find(digest);
  if (poisoned) {
    deps.metrics.poisonRefusals.inc();
    return sendError(res, 'poison_request', describePoison(poisoned));
  }
  timeline?.mark('checked');
  // A model that is not ready is loaded first, the client waiting (gone, it stops waiting). A model
  // already loaded is held at once: nothing made for waiting, so a refusal by its breaker costs less.
  const ready = deps.models.holdReady(model);
  const holding = ready ? { held: ready, clientGone: undefined, responder: undefined } : await waitForModel(api, read, res, model, waitMs, deps);
  if (!holding) return;
  const { held, clientGone, responder } = holding;
  try {
    await sendAdmitted(api, read, res, { model, serving: held.serving, digest, clientGone, timeline, responder }, deps);
  } finally {
    held.release();
  }
}

/** The model a request names, or undefined with the 404 sent (`models.served` names none of its kind). */
function findModel(api: Api, name: string | undefined, res: ServerResponse, deps: CompletionDependencies): ServedModel | undefined {
  const model = deps.models.find(name);
  if (!model) api.sendError(res, 'model_not_found', `no model "${String(name).slice(0, 256)}" is served here; GET /v1/models lists those that are`, { param: 'model' });
  return model;
}

/** Through the model's breaker and the context check, then sent (and replayed after a lost server) until it ends. */
async function sendAdmitted(
  api: Api,
  read: ApiRequest,
  res: ServerResponse,
  admitted: { model: ServedModel; serving: Serving; digest: string | undefined; clientGone: AbortController | undefined; timeline: Timeline | undefined; responder: Responder | undefined },
  deps: CompletionDependencies,
): Promise<void> {
  const { config, logger } = deps;
  const { model, serving: firstServing, timeline } = admitted;
  const request = read.upstream;
  // Once a stream has begun (keepalives while the model loaded), a refusal is the stream's error.
  const refuse: Refuse = admitted.responder ? (code, message, retryAfterSeconds) => admitted.responder!.refuse(code, message, retryAfterSeconds) : refuseBy(api, res);
  // A request refused for its content never took a permit (nor a half-open breaker's probe).
  const firstPermit = admit(model.inferenceBreaker, refuse);
  if (!firstPermit) return admitted.responder?.release();
  // Hashed only when something asks for it (a failure of its own, a loss of its server, a
  // replay): nearly every request asks for none, and the hash is a real part of a request's cost.
  let digest = admitted.digest;
  const digestOf = () => (digest ??= PoisonList.digest(request.body));
  const tooLong = await read.fits?.(() => countPromptTokens(request, read.upstreamPath, firstServing, deps), deps);
  if (tooLong) {
    firstPermit.ignore();
    refuse('invalid_request', tooLong);
    return admitted.responder?.release();
  }
  timeline?.mark('admitted');

  // Built only once the inference breaker admitted the call (unless it kept the client company
  // while the model loaded): a streaming responder may hold a parse-breaker permit, released in
  // `finally` whatever happens.
  const responder = admitted.responder ?? answerPipeline(res, read.answer, api.sendError, deps);
  const clientGone = admitted.clientGone ?? whenClientGone(res);
  const deadlineAt = Date.now() + config.inference.deadlineMs;
  const id = randomUUID();
  const attempt = (serving: Serving, permit: Permit, alone = false) =>
    sendOnce(request, read.upstreamPath, { api: api.name, id, model, serving, permit, digest: digestOf, responder, alone, deadlineMs: deadlineAt - Date.now(), clientGone: clientGone.signal, timeline }, deps);
  try {
    let ended = await attempt(firstServing, firstPermit);
    // A request whose client has seen nothing of an answer yet is held across the restart and
    // sent again (README, "Nothing lost across a restart"): once per restart, `replay.maxPerRequest` in all.
    for (let replays = 1; ended.kind === 'lost'; replays++) {
      const next = await prepareReplay(ended, replays, { id, digest: digestOf(), responder, deadlineAt, clientGone: clientGone.signal, bodyBytes: request.body.length }, model, deps);
      if (!next) return;
      try {
        ended = await attempt(next.serving, next.permit, next.alone);
      } finally {
        next.leave();
      }
    }
  } catch (error) {
    logger.error({ event: 'completion_error', api: api.name, err: error }, 'completion handling failed');
    api.sendError(res, 'internal_error', 'mlx-guard failed while handling this request; see its log');
  } finally {
    responder.release();
  }
}

/** The body, bounded and checked, as its API reads it; or undefined, the 400 sent. */
function readRequest(api: Api, raw: unknown, deps: CompletionDependencies, res: ServerResponse): ApiRequest | undefined {
  // The schema's cost grows with what it checks: a body past these bounds is refused before it.
  const tooBig = exceedsBounds(raw);
  if (tooBig) return void api.sendError(res, 'invalid_request', tooBig.message, { param: tooBig.param });
  const { models, inference, anthropic } = deps.config;
  const read = api.read(raw, { modelAllowed: (name) => models.allow.includes(name), maxTokens: Math.min(inference.maxTokens, anthropic.contextTokens ?? Infinity) });
  if ('invalid' in read) return void api.sendError(res, read.invalid.code ?? 'invalid_request', read.invalid.message, { param: read.invalid.param });
  if ('reply' in read) return void replyLoaded(api, read, res, deps);
  const capped = read.upstream.maxTokensCapped;
  // Told, not refused: the client asked for more than a local model can give, and gets what it can.
  if (capped) res.setHeader(MAX_TOKENS_HEADER, `${capped.cap}; requested=${capped.requested}`);
  if (read.dropped?.length) deps.logger.debug({ event: 'fields_dropped', api: api.name, fields: read.dropped.slice(0, 20) }, 'dropped request fields the model server does not read');
  return read;
}

/**
 * An answer that needs no model call, to a request that asks for its model to be loaded (Ollama's
 * empty chat or generate): sent once that model is ready, loading it first when it is not.
 */
async function replyLoaded(api: Api, { reply, model: name }: { reply: Record<string, unknown>; model: string }, res: ServerResponse, deps: CompletionDependencies): Promise<void> {
  const model = findModel(api, name, res, deps);
  if (!model) return;
  const clientGone = whenClientGone(res);
  const held = deps.models.holdReady(model) ?? (await deps.models.hold(model, clientGone.signal).catch(() => undefined));
  if (held && !(held instanceof MemoryRefusal)) {
    held.release();
    return sendJson(res, 200, reply);
  }
  if (!clientGone.signal.aborted) refuseUnheld(refuseBy(api, res), model, held);
}

/** A permit of the inference breaker, or the 503 already sent. */
function admit(breaker: CircuitBreaker, refuse: Refuse): Permit | undefined {
  try {
    return breaker.acquire();
  } catch (error) {
    const refusal = error as CircuitBreakerError;
    refuse('breaker_open', `the model server is failing (${refusal.message}); mlx-guard answers at once instead of waiting`, Number.isFinite(refusal.retryAfterMs) ? refusal.retryAfterMs / 1000 : 60);
    return undefined;
  }
}

/** One send of the request to one model server, through the inference pool; settles `permit` exactly once. */
async function sendOnce(
  request: UpstreamRequest,
  upstreamPath: string,
  attempt: { api: string; id: string; model: ServedModel; serving: Serving; permit: Permit; digest: () => string; responder: Responder; alone: boolean; deadlineMs: number; clientGone: AbortSignal; timeline: Timeline | undefined },
  deps: CompletionDependencies,
): Promise<AttemptEnd> {
  const { logger } = deps;
  const { inferenceBreaker, journal, triage } = attempt.model;
  const { serving, permit, digest, responder } = attempt;
  if (journal.alone.held && !attempt.alone) {
    // A suspect is being replayed alone: wait for it (bounded), so that a crash meanwhile names it.
    await journal.alone.whenClear(attempt.clientGone, SUSPECT_ALONE_MAX_WAIT_MS);
    if (serving.lost.aborted) {
      permit.ignore();
      return { kind: 'lost', reason: serving.lost.reason as ModelServerLostError, verdict: 'innocent' };
    }
    if (attempt.clientGone.aborted) {
      permit.ignore();
      return { kind: 'done' };
    }
  }
  const entry = journal.begin({ id: attempt.id, get digest() { return digest(); }, bodyBytes: request.body.length });
  // The model server this request went to stopped serving (restart, stop): the call is cancelled
  // (its signals), and ends with the verdict the journal gave it when the supervisor reported the loss.
  let lost: AttemptEnd | undefined;
  const onLost = () => {
    lost = { kind: 'lost', reason: serving.lost.reason as ModelServerLostError, verdict: entry.verdict ?? 'innocent' };
  };
  serving.lost.addEventListener('abort', onLost, { once: true });
  // The breaker judges responsiveness, not answer length: the call succeeds at its first
  // progress, however long the answer then runs.
  let progressed = false;
  const { timeline } = attempt;
  timeline?.mark('dispatched');
  const sentAt = journal.now();
  try {
    const result = await deps.pools.infer({
      url: `${serving.baseUrl}${upstreamPath}`,
      ...(serving.apiKey !== undefined ? { apiKey: serving.apiKey } : {}),
      body: request.body,
      upstreamStreams: request.upstreamStreams,
      // No deadline for the headers: a request waiting behind others is not stalled while the
      // server makes progress (the supervisor judges that for the server as a whole). Nor a
      // per-request silence: a prompt queued behind another one's long prefill hears nothing for
      // minutes.
      headersTimeoutMs: attempt.deadlineMs,
      idleTimeoutMs: attempt.deadlineMs,
      deadlineMs: attempt.deadlineMs,
      ...responder.attemptTask(),
      ...(timeline ? { timeline: true } : {}),
      onControl: (control) => responder.takeControl(control),
      signals: [attempt.clientGone, serving.lost],
      onMessage: (message) => {
        entry.progress();
        if (!progressed) {
          progressed = true;
          permit.success();
          timeline?.mark('first_message');
        }
        if (message.type === 'timeline') timeline?.absorb(message.marks);
        else if (message.type !== 'progress') responder.receive(message);
      },
    });
    // A crash cuts the connection a moment before the supervisor sees the process exit.
    if (!result.ok && !lost && CUT_OFF.has(result.error.code)) await within((raceOver) => aborted(serving.lost, raceOver), LOSS_NOTICE_MS, undefined);
    if (result.ok) {
      timeline?.absorb(result.marks);
      timeline?.mark('result');
      // A whole answer that came back within a second sent no message: its arrival is the progress.
      entry.progress();
      permit.success();
      await responder.finish(result.body);
    } else if (lost) {
      permit.ignore();
      responder.abandon();
      return lost;
    } else if (result.error.aborted || attempt.clientGone.aborted) {
      permit.ignore();
    } else {
      const error = asError(result.error);
      // A failure the server shows for this request while it serves others is this request's, not
      // the server's: it goes the poison way, and the breaker everyone shares never hears of it.
      const blame = !progressed && serverSide(result.error) ? await triage.blame(serving, sentAt) : 'server';
      if (blame === 'request') {
        permit.ignore();
        if (journal.poison.noteFailure(digest(), result.error.code, request.body.length) === 'poison') {
          deps.metrics.poisonFound.inc({ kind: 'fails' });
          logger.warn({ event: 'poison_request', api: attempt.api, digest: digest(), code: result.error.code }, 'a request failed twice on its own while the model server was healthy: not sent again');
        } else logger.warn({ event: 'request_failure', api: attempt.api, digest: digest(), code: result.error.code }, 'a request failed while the model server was healthy: its own failure, not counted against the server');
      } else if (!progressed) permit.failure(error);
      else if (result.error.code !== 'ERR_DEADLINE') reportLateFailure(inferenceBreaker, error);
      logger.warn({ event: 'upstream_failure', api: attempt.api, code: result.error.code, status: result.error.status, progressed }, result.error.message);
      await responder.fail(result.error);
    }
    return { kind: 'done' };
  } finally {
    serving.lost.removeEventListener('abort', onLost);
    entry.end();
  }
}

/**
 * Longest an attempt waits while a suspect is replayed alone: past it, it is sent beside the
 * suspect (whose next loss then names nobody). Long enough for a prefill, where a prompt too big
 * for the GPU's memory aborts the server; short enough to be a pause, not an outage.
 */
const SUSPECT_ALONE_MAX_WAIT_MS = 10_000;

/**
 * How a crash looks from a request: its connection drops a moment before the supervisor sees the
 * process exit. Such a failure waits this long for the verdict, so that a request the client has
 * seen nothing of is replayed rather than failed.
 */
const CUT_OFF = new Set(['ERR_UPSTREAM_CONNECTION', 'ERR_UPSTREAM_INCOMPLETE']);
const LOSS_NOTICE_MS = 1_000;

/**
 * The request's prompt length in the model's tokens (chat template included): the same request
 * for one token, whose usage says it. The model server's prompt cache keeps the prefix, so the
 * request itself then skips most of that prefill. Undefined when the server could not say.
 */
async function countPromptTokens(request: UpstreamRequest, upstreamPath: string, serving: Serving, deps: CompletionDependencies): Promise<number | undefined> {
  const body = { ...(JSON.parse(request.body) as Record<string, unknown>), max_tokens: 1, stream: true, stream_options: { include_usage: true } };
  const deadlineMs = deps.config.inference.deadlineMs;
  const result = await deps.pools.infer({
    url: `${serving.baseUrl}${upstreamPath}`,
    ...(serving.apiKey !== undefined ? { apiKey: serving.apiKey } : {}),
    body: JSON.stringify(body),
    upstreamStreams: true,
    headersTimeoutMs: deadlineMs,
    idleTimeoutMs: deadlineMs,
    deadlineMs,
    aggregate: { kind: 'chat', model: 'default_model' },
    signals: [serving.lost],
    onMessage: () => undefined,
  });
  const tokens = result.ok ? (result.body?.usage as { prompt_tokens?: unknown } | undefined)?.prompt_tokens : undefined;
  if (typeof tokens !== 'number') deps.logger.warn({ event: 'prompt_count_failed', error: result.ok ? 'no usage' : result.error.code }, 'could not count the prompt\'s tokens; sending it unchecked');
  return typeof tokens === 'number' ? tokens : undefined;
}

/** The server dropped the request or answered 5xx: its own failure, or the request's (see `FailureTriage`). */
function serverSide(error: TaskError): boolean {
  return error.code === 'ERR_UPSTREAM_CONNECTION' || (error.code === 'ERR_UPSTREAM_STATUS' && (error.status ?? 500) >= 500);
}

/**
 * A call that made progress and failed later (a stream cut, a stall mid-answer) was already
 * counted a success for responsiveness; its failure still counts, as a call of its own. When the
 * breaker is not closed, that takes its probe slot, and the failure reopens it.
 */
function reportLateFailure(breaker: CircuitBreaker, error: Error): void {
  breaker.tryAcquire()?.failure(error);
}

function asError(error: TaskError): Error {
  if (error.code.startsWith('ERR_UPSTREAM_')) return new UpstreamError(error.code as ConstructorParameters<typeof UpstreamError>[0], error.message, error.status);
  return Object.assign(new Error(error.message), { code: error.code });
}
