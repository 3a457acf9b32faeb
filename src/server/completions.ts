import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CircuitBreakerError, type CircuitBreaker, type Permit } from '../breaker/index.js';
import type { Config } from '../config.js';
import type { ModelServerLostError, Serving, Supervisor } from '../host/index.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { InferMessage, TaskError } from '../pool/messages.js';
import type { Pools } from '../pool/pools.js';
import type { RewriteOptions } from '../pool/stream-rewriter.js';
import { asToolCall, normaliseToolCall, type ToolDefinition } from '../tools/index.js';
import { sanitizeRequest, UpstreamError, type UpstreamRequest } from '../upstream/index.js';
import { describePoison, PoisonList } from './poison.js';
import { readJson, sendError, sendJson, startSse, writeSse } from './responses.js';
import { chatRequest, completionRequest, describeIssue, IGNORED_FIELDS } from './schemas.js';
import type { SerialLane } from './serial-lane.js';

export interface CompletionDependencies {
  config: Config;
  supervisor: Supervisor;
  inferenceBreaker: CircuitBreaker;
  parseBreaker: CircuitBreaker;
  pools: Pools;
  logger: Logger;
  metrics: Metrics;
  /** Requests admitted and not finished: the bounded queue in front of the pool. */
  inflight: { count: number };
  /** Requests that crash the model server or fail on their own. */
  poison: PoisonList;
  /** Replays of requests that were in flight at a crash go one at a time. */
  replayLane: SerialLane;
}

/** Set when tool calls were not parsed, so a client can tell why markup stayed in the content. */
export const TEXT_MODE_HEADER = 'x-mlx-guard-tool-parsing';
/** Set on an answer that came from a replay: how many times the request was sent again. */
export const REPLAYED_HEADER = 'x-mlx-guard-replayed';

type Chunk = Record<string, unknown> & { choices?: Array<Record<string, unknown>>; model?: unknown };

/**
 * One completion through validation, the poison list, admission (queue, model server state,
 * inference breaker), the inference pool, tool-call parsing (parse breaker), and back to the
 * client in its own format; sent again on the next model server when its own was lost before the
 * client saw anything. Every send records its breaker outcome exactly once.
 */
export async function handleCompletion(kind: 'chat' | 'text', req: IncomingMessage, res: ServerResponse, deps: CompletionDependencies): Promise<void> {
  const { config, supervisor, inferenceBreaker, logger } = deps;
  let raw: unknown;
  try {
    raw = await readJson(req, config.bodyLimitBytes, config.bodyTimeoutMs);
  } catch (error) {
    const e = error as { status: number; message: string; code: string };
    return sendError(res, e.status ?? 400, e.message, { code: e.code });
  }
  const parsed = (kind === 'chat' ? chatRequest : completionRequest).safeParse(raw);
  if (!parsed.success) {
    const { message, param } = describeIssue(parsed.error);
    return sendError(res, 400, message, { param, code: 'invalid_request' });
  }

  const body = { ...parsed.data } as Record<string, unknown>;
  for (const field of IGNORED_FIELDS) delete body[field];
  const request = sanitizeRequest(body);

  const digest = PoisonList.digest(request.body);
  const poisoned = deps.poison.find(digest);
  if (poisoned) {
    deps.metrics.poisonRefusals.inc();
    return sendError(res, 422, describePoison(poisoned), { code: 'poison_request' });
  }
  if (deps.inflight.count >= config.maxPendingRequests) {
    return sendError(res, 503, `mlx-guard is at its limit of ${config.maxPendingRequests} requests in flight; retry shortly`, { code: 'queue_full', retryAfterSeconds: 1 });
  }
  const firstServing = supervisor.serving;
  if (!firstServing) return refuseUnavailable(res, supervisor);
  const firstPermit = admit(inferenceBreaker, res);
  if (!firstPermit) return;

  // Built only once the inference breaker admitted the call: a streaming responder may hold a
  // parse-breaker permit, released in `finally` whatever happens.
  const tools = (kind === 'chat' ? (parsed.data as { tools?: ToolDefinition[] | null }).tools : undefined) ?? [];
  const responder = request.clientStreams
    ? new StreamResponder(kind, res, request.clientModel, request.clientWantsUsage, tools, deps)
    : new WholeResponder(kind, res, request.clientModel, tools, deps);
  deps.inflight.count++;
  const clientGone = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) clientGone.abort();
  });
  const deadlineAt = Date.now() + config.inference.deadlineMs;
  const id = randomUUID();
  const attempt = (serving: Serving, permit: Permit) =>
    sendOnce(kind, request, { id, serving, permit, digest, responder, deadlineMs: deadlineAt - Date.now(), clientGone: clientGone.signal }, deps);
  try {
    let ended = await attempt(firstServing, firstPermit);
    // A request whose client has seen nothing of an answer yet is held across the restart and
    // sent again (README, "Nothing lost across a restart"): once per restart, `replay.maxPerRequest` in all.
    for (let replays = 1; ended.kind === 'lost'; replays++) {
      const next = await prepareReplay(ended, replays, { id, digest, responder, deadlineAt, clientGone: clientGone.signal, bodyBytes: request.body.length }, deps);
      if (!next) return;
      try {
        ended = await attempt(next.serving, next.permit);
      } finally {
        next.leave();
      }
    }
  } catch (error) {
    logger.error({ event: 'completion_error', err: error }, 'completion handling failed');
    sendError(res, 500, 'mlx-guard failed while handling this request; see its log', { code: 'internal_error' });
  } finally {
    responder.release();
    deps.inflight.count--;
  }
}

/**
 * After its model server was lost: a server and a permit to send the request again (and `leave`,
 * to call once it ran), or undefined once the client has been answered instead (poison, content
 * already shown, replays spent, the deadline passed, the client gone, the breaker open).
 */
async function prepareReplay(
  lost: Extract<AttemptEnd, { kind: 'lost' }>,
  replays: number,
  request: { id: string; digest: string; responder: Responder; deadlineAt: number; clientGone: AbortSignal; bodyBytes: number },
  deps: CompletionDependencies,
): Promise<{ serving: Serving; permit: Permit; leave: () => void } | undefined> {
  const { config, supervisor, logger } = deps;
  const { reason, verdict } = lost;
  const { id, digest, responder, deadlineAt, clientGone } = request;
  if (verdict === 'poison') {
    const entry = deps.poison.find(digest);
    deps.metrics.poisonFound.inc({ kind: 'crashes' });
    logger.warn({ event: 'poison_request', id, digest, cause: reason.reason, bodyBytes: request.bodyBytes }, `a request was in flight at two ${reason.reason} restarts: not sent again`);
    responder.refuse(422, entry ? describePoison(entry) : reason.message, 'poison_request');
    return undefined;
  }
  // A stop is no restart: there is nothing to wait for.
  if (reason.reason === 'stop' || responder.contentSent || replays > config.replay.maxPerRequest) {
    responder.lost(reason, supervisor);
    return undefined;
  }
  // Not AbortSignal.any with AbortSignal.timeout: on Node 20 the timeout signal can be collected
  // before it fires when only the combined signal is held.
  const giveUp = new AbortController();
  const onGone = () => giveUp.abort();
  clientGone.addEventListener('abort', onGone, { once: true });
  const timer = setTimeout(onGone, Math.max(0, deadlineAt - Date.now()));
  const waited = await waitToReplay(verdict, responder, deps, giveUp.signal).finally(() => {
    clearTimeout(timer);
    clientGone.removeEventListener('abort', onGone);
  });
  const refuse = (status: number, message: string, code: string, retryAfterSeconds?: number) => {
    waited?.leave();
    responder.refuse(status, message, code, retryAfterSeconds);
    return undefined;
  };
  if (clientGone.aborted) {
    waited?.leave();
    return undefined;
  }
  if (!waited && (supervisor.state === 'fatal' || supervisor.state === 'stopped')) {
    responder.lost(reason, supervisor);
    return undefined;
  }
  if (!waited || Date.now() >= deadlineAt) {
    return refuse(504, `the model server was restarted and did not come back within this request's deadline (${config.inference.deadlineMs} ms); not sent again`, 'deadline');
  }
  const permit = deps.inferenceBreaker.tryAcquire();
  if (!permit) return refuse(503, 'the model server is failing again after its restart (the inference breaker is open); retry shortly', 'breaker_open', 5);
  deps.metrics.replays.inc();
  logger.info({ event: 'replay', id, digest, replay: replays, cause: reason.reason }, `replaying a request the client had seen nothing of (restart: ${reason.reason})`);
  responder.replayed(replays);
  return { serving: waited.serving, permit, leave: waited.leave };
}

/** A permit of the inference breaker, or the 503 already sent. */
function admit(breaker: CircuitBreaker, res: ServerResponse): Permit | undefined {
  try {
    return breaker.acquire();
  } catch (error) {
    const refusal = error as CircuitBreakerError;
    sendError(res, 503, `the model server is failing (${refusal.message}); mlx-guard answers at once instead of waiting`, {
      code: 'breaker_open',
      retryAfterSeconds: Number.isFinite(refusal.retryAfterMs) ? refusal.retryAfterMs / 1000 : 60,
    });
    return undefined;
  }
}

/** How one attempt ended: handled (answered or failed), or cut short because its model server was lost. */
type AttemptEnd = { kind: 'done' } | { kind: 'lost'; reason: ModelServerLostError; verdict: 'innocent' | 'suspect' | 'poison' };

/** One send of the request to one model server, through the inference pool; settles `permit` exactly once. */
async function sendOnce(
  kind: 'chat' | 'text',
  request: UpstreamRequest,
  attempt: { id: string; serving: Serving; permit: Permit; digest: string; responder: Responder; deadlineMs: number; clientGone: AbortSignal },
  deps: CompletionDependencies,
): Promise<AttemptEnd> {
  const { config, supervisor, inferenceBreaker, logger } = deps;
  const { serving, permit, digest, responder } = attempt;
  const tracker = supervisor.trackRequest({ id: attempt.id, digest, bodyBytes: request.body.length });
  const abort = new AbortController();
  const onClientGone = () => abort.abort();
  attempt.clientGone.addEventListener('abort', onClientGone, { once: true });
  // The model server this request went to stopped serving (restart, stop): end it now, and note
  // it against the request at once, before the restart decision that may forgive it.
  let lost: AttemptEnd | undefined;
  const onLost = () => {
    const reason = serving.lost.reason as ModelServerLostError;
    const verdict = deps.poison.noteLoss(digest, reason.reason, request.body.length, reason);
    if (verdict === 'poison') supervisor.forgiveRestart();
    lost = { kind: 'lost', reason, verdict };
    abort.abort();
  };
  serving.lost.addEventListener('abort', onLost, { once: true });
  // The breaker judges responsiveness, not answer length: the call succeeds at its first
  // progress, however long the answer then runs.
  let progressed = false;
  try {
    const result = await deps.pools.infer({
      url: `${serving.baseUrl}${kind === 'chat' ? '/v1/chat/completions' : '/v1/completions'}`,
      body: request.body,
      upstreamStreams: request.upstreamStreams,
      // No deadline for the headers: a request waiting behind others is not stalled while the
      // server makes progress (the supervisor judges that for the server as a whole). Nor a
      // per-request silence: a prompt queued behind another one's long prefill hears nothing for
      // minutes.
      headersTimeoutMs: attempt.deadlineMs,
      idleTimeoutMs: attempt.deadlineMs,
      deadlineMs: attempt.deadlineMs,
      ...(responder instanceof StreamResponder ? { rewrite: responder.rewrite } : { aggregate: { kind, model: request.clientModel ?? 'default_model' } }),
      signal: abort.signal,
      onMessage: (message) => {
        tracker.progress();
        if (!progressed) {
          progressed = true;
          permit.success();
        }
        if (message.type !== 'progress') responder.receive(message);
      },
    });
    if (result.ok) {
      // A whole answer that came back within a second sent no message: its arrival is the progress.
      tracker.progress();
      permit.success();
      await responder.finish(result.body);
    } else if (lost || (CUT_OFF.has(result.error.code) && (await lostWithin(serving.lost, LOSS_NOTICE_MS)) && lost)) {
      permit.ignore();
      return lost;
    } else if (result.error.aborted || abort.signal.aborted) {
      permit.ignore();
    } else {
      const error = asError(result.error);
      const ownFault = !progressed && failedAlone(result.error, supervisor);
      if (ownFault && deps.poison.noteFailure(digest, result.error.code, request.body.length) === 'poison') {
        // Counted once already: the same request failing again says nothing new about the server.
        permit.ignore();
        deps.metrics.poisonFound.inc({ kind: 'fails' });
        logger.warn({ event: 'poison_request', digest, code: result.error.code }, 'a request failed twice on its own while the model server served others: not sent again');
      } else if (!progressed) permit.failure(error);
      else if (result.error.code !== 'ERR_DEADLINE') reportLateFailure(inferenceBreaker, error);
      logger.warn({ event: 'upstream_failure', code: result.error.code, status: result.error.status, progressed }, result.error.message);
      responder.fail(result.error);
    }
    return { kind: 'done' };
  } finally {
    serving.lost.removeEventListener('abort', onLost);
    attempt.clientGone.removeEventListener('abort', onClientGone);
    tracker.end();
  }
}

/**
 * How a crash looks from a request: its connection drops a moment before the supervisor sees the
 * process exit. Such a failure waits this long for the verdict, so that a request the client has
 * seen nothing of is replayed rather than failed.
 */
const CUT_OFF = new Set(['ERR_UPSTREAM_CONNECTION', 'ERR_UPSTREAM_INCOMPLETE']);
const LOSS_NOTICE_MS = 1_000;

/** Whether `lost` aborts within `ms`. */
function lostWithin(lost: AbortSignal, ms: number): Promise<boolean> {
  if (lost.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      lost.removeEventListener('abort', onAbort);
      resolve(false);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(true);
    };
    lost.addEventListener('abort', onAbort, { once: true });
  });
}

/** A failure of this request alone: the server dropped it or answered 5xx while another request made progress. */
function failedAlone(error: TaskError, supervisor: Supervisor): boolean {
  const serverSide = error.code === 'ERR_UPSTREAM_CONNECTION' || (error.code === 'ERR_UPSTREAM_STATUS' && (error.status ?? 500) >= 500);
  return serverSide && Date.now() - supervisor.lastProgressAt <= OTHERS_SERVED_WITHIN_MS;
}

const OTHERS_SERVED_WITHIN_MS = 1_000;

/**
 * Waits for the next ready model server, keeping a streaming client's connection alive meanwhile.
 * A suspect (in flight at the crash) first waits its turn in the replay lane and holds it while it
 * runs (`leave` lets the next one in), so that a second crash names one request.
 */
async function waitToReplay(
  verdict: 'innocent' | 'suspect',
  responder: Responder,
  { supervisor, replayLane }: CompletionDependencies,
  signal: AbortSignal,
): Promise<{ serving: Serving; leave: () => void } | undefined> {
  const keepAlive = setInterval(() => responder.keepAlive(), KEEPALIVE_EVERY_MS);
  let leave: (() => void) | undefined;
  try {
    leave = verdict === 'suspect' ? await replayLane.enter(signal) : () => undefined;
    return { serving: await supervisor.whenServing(signal), leave };
  } catch {
    leave?.();
    return undefined;
  } finally {
    clearInterval(keepAlive);
  }
}

const KEEPALIVE_EVERY_MS = 5_000;

/** 503 while no model server is ready: what it is doing, and when to come back. */
function refuseUnavailable(res: ServerResponse, supervisor: Supervisor): void {
  const { state, detail, lastTimeToReadyMs } = supervisor.status;
  sendError(res, 503, `the model server is ${state}${detail ? ` (${detail})` : ''}; retry shortly`, {
    code: 'model_server_unavailable',
    retryAfterSeconds: state === 'fatal' ? 60 : (lastTimeToReadyMs ?? 10_000) / 1000,
  });
}

/**
 * A call that made progress and failed later (a stream cut, a stall mid-answer) was already
 * counted a success for responsiveness; its failure still counts, as a call of its own. When the
 * breaker is not closed, that takes its probe slot, and the failure reopens it.
 */
function reportLateFailure(breaker: CircuitBreaker, error: Error): void {
  breaker.tryAcquire()?.failure(error);
}

/** What a client is told when the model server its request went to stopped serving. */
function lostMessage(reason: ModelServerLostError | undefined, supervisor: Supervisor): { message: string; retryAfterSeconds: number } {
  const what = reason ? reason.message : 'the model server stopped serving';
  return { message: `${what}; this request was ended and was not completed. Retry it once the server is back.`, retryAfterSeconds: (supervisor.status.lastTimeToReadyMs ?? 10_000) / 1000 };
}

function asError(error: TaskError): Error {
  if (error.code.startsWith('ERR_UPSTREAM_')) return new UpstreamError(error.code as ConstructorParameters<typeof UpstreamError>[0], error.message, error.status);
  return Object.assign(new Error(error.message), { code: error.code });
}

/** The HTTP answer to an upstream failure the client can act on. */
function failureStatus(error: TaskError): { status: number; message: string } {
  if (error.code === 'ERR_UPSTREAM_STATUS' && error.status !== undefined && error.status < 500) {
    return { status: error.status, message: `the model server refused the request: ${error.message}` };
  }
  const timeout = error.code === 'ERR_DEADLINE' || error.code === 'ERR_UPSTREAM_HEADERS_TIMEOUT' || error.code === 'ERR_UPSTREAM_STALL';
  return { status: timeout ? 504 : 502, message: `the model server failed this request (${error.code}): ${error.message}` };
}

function noteLostCall({ metrics, logger }: CompletionDependencies): void {
  metrics.lostToolCalls.inc();
  logger.warn({ event: 'lost_tool_call' }, 'the model server said finish_reason "tool_calls" but sent no call (its parser dropped it)');
}

interface Responder {
  receive(message: InferMessage): void;
  /** The call succeeded; `body` is the whole answer when the client did not stream. */
  finish(body?: Record<string, unknown>): Promise<void>;
  fail(error: TaskError): void;
  /** The model server stopped serving (restart, stop) before the answer was complete. */
  lost(reason: ModelServerLostError | undefined, supervisor: Supervisor): void;
  /** Ends the request with an error of mlx-guard's own. */
  refuse(status: number, message: string, code: string, retryAfterSeconds?: number): void;
  /** Whether the client has received any of the answer's content (then it cannot be replayed). */
  readonly contentSent: boolean;
  /** The request is being sent again: say so (a header, or a comment once a stream has begun). */
  replayed(times: number): void;
  /** Keeps the client's connection alive while the request waits (a comment, for a stream). */
  keepAlive(): void;
  /** Releases what the responder holds, however the request ended. */
  release(): void;
}

/**
 * A streaming client: the inference worker rewrites the stream (model name, usage, tool calls
 * parsed and sent whole) and posts SSE text that goes out as it comes. Parsing there runs under
 * the parse breaker's permit, taken here and settled when the stream ends.
 */
class StreamResponder implements Responder {
  readonly rewrite: RewriteOptions;
  readonly #permit: Permit | undefined;
  /** Tools were declared but the parse breaker refused: the content passes through unparsed. */
  readonly #textMode: boolean;
  #started = false;
  #contentSent = false;
  #replayed: number | undefined;

  constructor(
    readonly kind: 'chat' | 'text',
    readonly res: ServerResponse,
    model: string | undefined,
    wantsUsage: boolean,
    tools: ToolDefinition[],
    readonly deps: CompletionDependencies,
  ) {
    // A request that declared no tools cannot get a tool call, so its content is not parsed at all.
    const wantsParsing = kind === 'chat' && tools.length > 0;
    this.#permit = (wantsParsing && deps.parseBreaker.tryAcquire()) || undefined;
    this.#textMode = wantsParsing && this.#permit === undefined;
    this.rewrite = { kind, wantsUsage, ...(model !== undefined ? { model } : {}), ...(this.#permit ? { tools } : {}) };
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    startSse(this.res, {
      ...(this.#textMode ? { [TEXT_MODE_HEADER]: 'off (parse breaker open)' } : {}),
      ...(this.#replayed !== undefined ? { [REPLAYED_HEADER]: String(this.#replayed) } : {}),
    });
  }

  get contentSent(): boolean {
    return this.#contentSent;
  }

  replayed(times: number): void {
    this.#replayed = times;
    if (this.#started) this.res.write(`: mlx-guard: sent again (${times}) after a model server restart\n\n`);
  }

  keepAlive(): void {
    this.#start();
    this.res.write(': mlx-guard: waiting for the model server to restart\n\n');
  }

  receive(message: InferMessage): void {
    if (message.type === 'sse') {
      this.#start();
      // Keepalive comments are not content: a stream that has sent only those can still be replayed.
      if (!this.#contentSent && message.text.includes('data:')) this.#contentSent = true;
      this.res.write(message.text);
    } else if (message.type === 'stream_end') {
      this.#streamEnded(message);
    }
  }

  #streamEnded({ sawFinish, lostCall, parseError }: { sawFinish: boolean; lostCall: boolean; parseError?: string }): void {
    if (parseError === undefined) this.#permit?.success();
    else {
      this.#permit?.failure(new Error(parseError));
      this.deps.logger.warn({ event: 'tool_parsing_skipped', reason: parseError }, 'tool parsing failed mid-stream; the rest of the content was passed through');
    }
    if (lostCall) noteLostCall(this.deps);
    if (!sawFinish) this.deps.logger.warn({ event: 'stream_without_finish' }, 'the stream ended without a finish reason');
  }

  async finish(): Promise<void> {
    this.#start();
    this.res.end();
  }

  release(): void {
    // Unless the stream ended and settled it, parsing proved nothing either way.
    this.#permit?.ignore();
  }

  fail(error: TaskError): void {
    const { status, message } = failureStatus(error);
    this.refuse(status, message, error.code.toLowerCase());
  }

  lost(reason: ModelServerLostError | undefined, supervisor: Supervisor): void {
    const { message, retryAfterSeconds } = lostMessage(reason, supervisor);
    this.refuse(503, message, 'model_server_restarting', retryAfterSeconds);
  }

  refuse(status: number, message: string, code: string, retryAfterSeconds?: number): void {
    if (!this.#started) {
      sendError(this.res, status, message, { code, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) });
      return;
    }
    // Headers are gone: say so in the stream and end it without [DONE], as a cut stream looks.
    writeSse(this.res, { error: { message, type: 'server_error', code } });
    this.res.end();
  }
}

/**
 * A non-streaming client: the worker aggregated the stream (or the server answered whole, for
 * logprobs); its content is then parsed for tool calls in the parse pool.
 */
class WholeResponder implements Responder {
  constructor(
    readonly kind: 'chat' | 'text',
    readonly res: ServerResponse,
    readonly model: string | undefined,
    readonly tools: ToolDefinition[],
    readonly deps: CompletionDependencies,
  ) {}

  readonly contentSent = false;
  #replayed: number | undefined;

  receive(): void {}

  replayed(times: number): void {
    this.#replayed = times;
  }

  keepAlive(): void {}

  async finish(body?: Record<string, unknown>): Promise<void> {
    if (!body) throw new Error('the inference worker finished without an answer');
    const response = body as Chunk;
    if (this.model !== undefined) response.model = this.model;
    const headers: Record<string, string> = {};
    const choice = response.choices?.[0];
    const message = choice?.message as Record<string, unknown> | undefined;
    if (this.kind === 'chat' && choice && message) {
      const calls = ((message.tool_calls as Array<Record<string, unknown>> | undefined) ?? []).map(normaliseToolCall);
      if (this.tools.length > 0 && typeof message.content === 'string' && message.content !== '') {
        try {
          const parsed = await this.deps.parseBreaker.execute(() => this.deps.pools.parseTools(message.content as string, { tools: this.tools }, this.deps.config.parseTimeoutMs));
          if (parsed.status === 'ok') {
            calls.push(...parsed.calls.map(asToolCall));
            message.content = parsed.content || null;
          }
        } catch (error) {
          headers[TEXT_MODE_HEADER] = error instanceof CircuitBreakerError ? 'off (parse breaker open)' : 'off (parsing failed)';
          this.deps.logger.warn({ event: 'tool_parsing_skipped', reason: (error as Error).message }, 'tool parsing skipped; the content is passed through');
        }
      }
      if (calls.length > 0) {
        message.tool_calls = calls;
        choice.finish_reason = 'tool_calls';
      } else if (choice.finish_reason === 'tool_calls') {
        noteLostCall(this.deps);
      }
    }
    if (this.#replayed !== undefined) headers[REPLAYED_HEADER] = String(this.#replayed);
    sendJson(this.res, 200, response, headers);
  }

  fail(error: TaskError): void {
    const { status, message } = failureStatus(error);
    sendError(this.res, status, message, { code: error.code.toLowerCase() });
  }

  lost(reason: ModelServerLostError | undefined, supervisor: Supervisor): void {
    const { message, retryAfterSeconds } = lostMessage(reason, supervisor);
    this.refuse(503, message, 'model_server_restarting', retryAfterSeconds);
  }

  refuse(status: number, message: string, code: string, retryAfterSeconds?: number): void {
    sendError(this.res, status, message, { code, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) });
  }

  release(): void {}
}
