import type { ServerResponse } from 'node:http';
import { CircuitBreakerError, type Permit } from '../breaker/index.js';
import type { ModelServerLostError, Supervisor } from '../host/index.js';
import type { InferMessage, TaskError } from '../pool/messages.js';
import type { RewriteOptions } from '../pool/stream-rewriter.js';
import { asToolCall, normaliseToolCall, type ToolDefinition } from '../tools/index.js';
import type { CompletionDependencies } from './dependencies.js';
import { sendError, sendJson, startSse, writeSse } from './responses.js';

/** Set when tool calls were not parsed, so a client can tell why markup stayed in the content. */
export const TEXT_MODE_HEADER = 'x-mlx-guard-tool-parsing';
/** Set on an answer that came from a replay: how many times the request was sent again. */
export const REPLAYED_HEADER = 'x-mlx-guard-replayed';

type Chunk = Record<string, unknown> & { choices?: Array<Record<string, unknown>>; model?: unknown };

/** The model server the request went to stopped serving (restart, stop) before the answer was complete. */
export function answerLost(responder: Responder, reason: ModelServerLostError | undefined, supervisor: Supervisor): void {
  const what = reason ? reason.message : 'the model server stopped serving';
  const retryAfterSeconds = (supervisor.status.lastTimeToReadyMs ?? 10_000) / 1000;
  responder.refuse(503, `${what}; this request was ended and was not completed. Retry it once the server is back.`, 'model_server_restarting', retryAfterSeconds);
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

export interface Responder {
  receive(message: InferMessage): void;
  /** The call succeeded; `body` is the whole answer when the client did not stream. */
  finish(body?: Record<string, unknown>): Promise<void>;
  fail(error: TaskError): void;
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
export class StreamResponder implements Responder {
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
export class WholeResponder implements Responder {
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

  refuse(status: number, message: string, code: string, retryAfterSeconds?: number): void {
    sendError(this.res, status, message, { code, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) });
  }

  release(): void {}
}
