import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PublicErrorCode } from '../answer/index.js';
import { MemoryRefusal, type Held } from '../fleet/index.js';
import type { Supervisor } from '../supervisor/index.js';
import type { Api, ApiRequest } from './apis/api.js';
import type { CompletionDependencies, ServedModel } from './dependencies.js';
import { answerPipeline, KEEPALIVE_EVERY_MS, type Responder } from './pipeline.js';

/** When a model refused for memory that others hold may be asked for again: they are busy, with answers of seconds to minutes. */
const MEMORY_RETRY_AFTER_S = 30;

/** How a refusal is said: before a stream has begun, an error response; after, the stream's error. */
export type Refuse = (code: PublicErrorCode, message: string, retryAfterSeconds?: number) => void;

/** A refusal as an error response, before any of the answer was sent. */
export const refuseBy =
  (api: Api, res: ServerResponse): Refuse =>
  (code, message, retryAfterSeconds) =>
    api.sendError(res, code, message, retryAfterSeconds !== undefined ? { retryAfterSeconds } : {});

/** Aborts when the client goes before its answer is complete. */
export function whenClientGone(res: ServerResponse): AbortController {
  const gone = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) gone.abort();
  });
  return gone;
}

/**
 * How long the client will wait for a model to load: RFC 7240's `Prefer: wait=<seconds>` (0: not
 * at all, answered 503 with the load's progress while it goes on); unbounded without it.
 */
export function preferredWaitMs(req: IncomingMessage): number | undefined {
  const prefer = req.headers.prefer;
  if (prefer === undefined) return undefined;
  const wait = /(?:^|[,;\s])wait=(\d{1,6})\b/i.exec(String(prefer))?.[1];
  return wait === undefined ? undefined : Number(wait) * 1000;
}

/**
 * The model held for the request once it is loaded, for a request that found it not ready (its
 * client waits: a streaming one hears a keepalive every 5 s, and a client that said how long it
 * waits gets a 503 with the load's progress past that, while the load goes on). Undefined once the
 * client has been answered instead (refused, or gone); else with the responder and the client's
 * signal made for the wait, for the request to go on with.
 */
export async function waitForModel(
  api: Api,
  read: ApiRequest,
  res: ServerResponse,
  model: ServedModel,
  waitMs: number | undefined,
  deps: CompletionDependencies,
): Promise<{ held: Held; clientGone: AbortController; responder: Responder } | undefined> {
  const clientGone = whenClientGone(res);
  const responder = answerPipeline(res, read.answer, api.sendError, deps);
  const giveUp = new AbortController();
  const onGone = () => giveUp.abort();
  clientGone.signal.addEventListener('abort', onGone, { once: true });
  const deadline = waitMs === undefined ? undefined : setTimeout(onGone, waitMs);
  const keepAlive = setInterval(() => responder.keepAlive(`loading the model ${model.name}`), KEEPALIVE_EVERY_MS);
  let held: Held | MemoryRefusal | undefined;
  try {
    held = await deps.models.hold(model, giveUp.signal).catch(() => undefined);
  } finally {
    clearInterval(keepAlive);
    clearTimeout(deadline);
    clientGone.signal.removeEventListener('abort', onGone);
  }
  if (held && !(held instanceof MemoryRefusal)) return { held, clientGone, responder };
  responder.release();
  if (clientGone.signal.aborted) return undefined;
  const refuse: Refuse = (code, message, retryAfterSeconds) => responder.refuse(code, message, retryAfterSeconds);
  if (giveUp.signal.aborted && model.supervisor.state !== 'fatal') return refuseLoading(refuse, model);
  refuseUnheld(refuse, model, held);
  return undefined;
}

/** 503 to a client that would not wait for the load: how far it is (once its server has begun to say), and when to come back. */
function refuseLoading(refuse: Refuse, model: ServedModel): undefined {
  const { detail, lastTimeToReadyMs } = model.supervisor.status;
  refuse('model_server_unavailable', `the model ${model.name} is loading${detail ? ` (${detail})` : ''}; it goes on loading: retry shortly`, (lastTimeToReadyMs ?? 10_000) / 1000);
  return undefined;
}

/** A model that could not be held: it would not fit in the memory budget (507 if never, 503 if not now), or its server is not ready (503). */
export function refuseUnheld(refuse: Refuse, model: ServedModel, refusal: MemoryRefusal | undefined): void {
  if (!refusal) return refuseUnavailable(refuse, model.supervisor);
  if (refusal.kind === 'too_large') return refuse('model_too_large', refusal.message);
  refuse('model_server_unavailable', refusal.message, MEMORY_RETRY_AFTER_S);
}

/** 503 while no model server is ready: what it is doing, and when to come back. */
export function refuseUnavailable(refuse: Refuse, supervisor: Supervisor): void {
  const { state, detail, lastTimeToReadyMs, coolingDownUntil } = supervisor.status;
  const waitMs = coolingDownUntil !== undefined ? coolingDownUntil - Date.now() + (lastTimeToReadyMs ?? 10_000) : state === 'fatal' ? 60_000 : (lastTimeToReadyMs ?? 10_000);
  refuse('model_server_unavailable', `the model server is ${state}${detail ? ` (${detail})` : ''}; retry shortly`, waitMs / 1000);
}
