import type { ServerResponse } from 'node:http';
import type { ModelServerLostError, Supervisor } from '../host/index.js';
import { shapeWhole, StreamShaper, wholeContent, type ChatChunk, type ParsedContent } from '../openai/index.js';
import type { InferMessage, InferTask, TaskError } from '../pool/messages.js';
import type { FlowControl } from '../pool/pools.js';
import type { ToolDefinition } from '../tools/index.js';
import type { CompletionDependencies } from './dependencies.js';
import { PUBLIC_ERRORS, publicUpstreamError, type PublicErrorCode } from './errors.js';
import { sendError, sendJson, startSse, writeSse } from './responses.js';
import { describeTextMode, type StreamParsing, type TextModeReason } from './tool-parsing.js';

/** Set when tool calls were not parsed, so a client can tell why markup stayed in the content. */
export const TEXT_MODE_HEADER = 'x-mlx-guard-tool-parsing';
/** Set on an answer that came from a replay: how many times the request was sent again. */
export const REPLAYED_HEADER = 'x-mlx-guard-replayed';

/** The model server the request went to stopped serving (restart, stop) before the answer was complete. */
export function answerLost(responder: Responder, reason: ModelServerLostError | undefined, supervisor: Supervisor): void {
  const what = reason ? reason.message : 'the model server stopped serving';
  const retryAfterSeconds = (supervisor.status.lastTimeToReadyMs ?? 10_000) / 1000;
  responder.refuse('model_server_restarting', `${what}; this request was ended and was not completed. Retry it once the server is back.`, retryAfterSeconds);
}

function noteLostCall({ metrics, logger }: CompletionDependencies): void {
  metrics.lostToolCalls.inc();
  logger.warn({ event: 'lost_tool_call' }, 'the model server said finish_reason "tool_calls" but sent no call (its parser dropped it)');
}

export interface Responder {
  /** What the inference worker does with the answer: shape a stream (parsing elsewhere, or not at all), or aggregate it. */
  readonly task: Pick<InferTask, 'stream' | 'aggregate'>;
  receive(message: InferMessage): void;
  /** The call succeeded; `body` is the whole answer when the client did not stream. */
  finish(body?: Record<string, unknown>): Promise<void>;
  /** The call failed: what the client already has stays, then the error. */
  fail(error: TaskError): Promise<void>;
  /** Ends the request with an error of mlx-guard's own. */
  refuse(code: PublicErrorCode, message: string, retryAfterSeconds?: number): void;
  /** Whether the client has received any of the answer's content (then it cannot be replayed). */
  readonly contentSent: boolean;
  /** The attempt's model server was lost: what the attempt has not written yet never will be. */
  abandon(): void;
  /** The request is being sent again: say so (a header, or a comment once a stream has begun). */
  replayed(times: number): void;
  /** Keeps the client's connection alive while the request waits (a comment, for a stream). */
  keepAlive(): void;
  /** Takes the attempt's flow control, to hold the model server back while the client reads slowly (streams). */
  flowControl(control: FlowControl): void;
  /** Releases what the responder holds, however the request ended. */
  release(): void;
}

const NOTHING_PARSED: ParsedContent = { content: '', calls: [] };

/**
 * A streaming client. Without tools to parse, the inference worker shapes the stream and posts
 * SSE text that goes out as it comes. With them, it posts the chunks unfinished: their content
 * goes through tool parsing (in the parse pool, one chunk at a time, in order), then the shaper
 * here finishes and frames them.
 */
export class StreamResponder implements Responder {
  readonly task: Pick<InferTask, 'stream'>;
  #shaper: StreamShaper;
  #parsing: StreamParsing | undefined;
  /** Chunks in the order they came, each waiting for the one before to be parsed and written. */
  #queue: Promise<void> = Promise.resolve();
  /** Bumped when an attempt is abandoned, so that its queued chunks are dropped. */
  #attempt = 0;
  #textModeSaid = false;
  #flow: FlowControl | undefined;
  #paused = false;
  #started = false;
  #contentSent = false;
  #replayed: number | undefined;

  constructor(
    readonly kind: 'chat' | 'text',
    readonly res: ServerResponse,
    model: string | undefined,
    wantsUsage: boolean,
    readonly tools: ToolDefinition[],
    readonly deps: CompletionDependencies,
  ) {
    // A request that declared no tools cannot get a tool call, so its content is not parsed at all.
    const parsesTools = kind === 'chat' && tools.length > 0;
    const options = { kind, wantsUsage, ...(model !== undefined ? { model } : {}) };
    this.task = { stream: { ...options, parsesTools } };
    this.#shaper = new StreamShaper(options);
    this.#parsing = parsesTools ? deps.toolParsing.stream(tools) : undefined;
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    const textMode = this.#parsing?.textMode;
    if (textMode) this.#textModeSaid = true;
    startSse(this.res, {
      ...(textMode ? { [TEXT_MODE_HEADER]: describeTextMode(textMode) } : {}),
      ...(this.#replayed !== undefined ? { [REPLAYED_HEADER]: String(this.#replayed) } : {}),
    });
  }

  #write(text: string): void {
    if (!text) return;
    this.#start();
    // Keepalive comments are not content: a stream that has sent only those can still be replayed.
    if (!this.#contentSent && text.includes('data:')) this.#contentSent = true;
    if (this.res.write(text) || !this.#flow || this.#paused) return;
    // The client reads slower than the model writes: stop reading upstream until it catches up.
    const flow = this.#flow;
    this.#paused = true;
    flow.pause();
    this.res.once('drain', () => {
      this.#paused = false;
      flow.resume();
    });
  }

  /** This attempt's flow control (each attempt is a new upstream call). */
  flowControl(control: FlowControl): void {
    this.#flow = control;
    this.#paused = false;
  }

  get contentSent(): boolean {
    return this.#contentSent;
  }

  abandon(): void {
    this.#attempt++;
    this.#parsing?.release();
  }

  replayed(times: number): void {
    this.#replayed = times;
    this.#shaper = new StreamShaper(this.#shaper.options);
    if (this.#parsing) this.#parsing = this.deps.toolParsing.stream(this.tools);
    if (this.#started) this.res.write(`: mlx-guard: sent again (${times}) after a model server restart\n\n`);
  }

  keepAlive(): void {
    this.#start();
    this.res.write(': mlx-guard: waiting for the model server to restart\n\n');
  }

  receive(message: InferMessage): void {
    if (message.type === 'sse') this.#write(message.text);
    else if (message.type === 'items') {
      const attempt = this.#attempt;
      this.#queue = this.#queue.then(() => this.#parseAndWrite(message.items, attempt));
    } else if (message.type === 'stream_end') this.#streamEnded(message);
  }

  async #parseAndWrite(items: Array<string | ChatChunk>, attempt: number): Promise<void> {
    const parsing = this.#parsing!;
    for (const item of items) {
      if (attempt !== this.#attempt) return;
      if (typeof item === 'string') {
        this.#write(item);
        continue;
      }
      const content = StreamShaper.content(item);
      let parsed = content === undefined ? undefined : await parsing.push(content);
      if (StreamShaper.finishes(item)) {
        const last = await parsing.end();
        parsed = { content: (parsed ?? NOTHING_PARSED).content + last.content, calls: [...(parsed ?? NOTHING_PARSED).calls, ...last.calls] };
      }
      if (attempt !== this.#attempt) return;
      this.#sayTextMode(parsing.textMode);
      this.#write(this.#shaper.finish(item, parsed));
    }
  }

  /** Once parsing stopped mid-stream: a comment says so (the header, if nothing was sent yet). */
  #sayTextMode(reason: TextModeReason | undefined): void {
    if (!reason || this.#textModeSaid) return;
    if (!this.#started) return this.#start();
    this.#textModeSaid = true;
    this.res.write(`: mlx-guard: tool parsing ${describeTextMode(reason)}; the rest passes through as text\n\n`);
  }

  #streamEnded({ sawFinish, lostCall }: { sawFinish: boolean; lostCall: boolean }): void {
    if (lostCall) noteLostCall(this.deps);
    if (!sawFinish) this.deps.logger.warn({ event: 'stream_without_finish' }, 'the stream ended without a finish reason');
  }

  async finish(): Promise<void> {
    await this.#queue;
    if (this.#parsing) this.#streamEnded(this.#shaper);
    this.#start();
    this.res.end();
  }

  release(): void {
    this.#parsing?.release();
  }

  async fail(error: TaskError): Promise<void> {
    await this.#queue;
    const { code, status, message } = publicUpstreamError(error);
    if (!this.#started) return sendError(this.res, code, message, { status });
    this.refuse(code, message);
  }

  refuse(code: PublicErrorCode, message: string, retryAfterSeconds?: number): void {
    if (!this.#started) {
      sendError(this.res, code, message, retryAfterSeconds !== undefined ? { retryAfterSeconds } : {});
      return;
    }
    // Headers are gone: say so in the stream and end it without [DONE], as a cut stream looks.
    writeSse(this.res, { error: { message, type: PUBLIC_ERRORS[code].type, code } });
    this.res.end();
  }
}

/**
 * A non-streaming client: the worker aggregated the stream (or the server answered whole, for
 * logprobs); its content is then parsed for tool calls in the parse pool.
 */
export class WholeResponder implements Responder {
  readonly task: Pick<InferTask, 'aggregate'>;
  readonly contentSent = false;
  #replayed: number | undefined;

  constructor(
    readonly kind: 'chat' | 'text',
    readonly res: ServerResponse,
    readonly model: string | undefined,
    readonly tools: ToolDefinition[],
    readonly deps: CompletionDependencies,
  ) {
    this.task = { aggregate: { kind, model: model ?? 'default_model' } };
  }

  receive(): void {}

  abandon(): void {}

  replayed(times: number): void {
    this.#replayed = times;
  }

  keepAlive(): void {}

  flowControl(): void {}

  async finish(body?: Record<string, unknown>): Promise<void> {
    if (!body) throw new Error('the inference worker finished without an answer');
    const headers: Record<string, string> = {};
    const content = this.kind === 'chat' && this.tools.length > 0 ? wholeContent(body) : '';
    let parsed: ParsedContent | undefined;
    if (content !== '') {
      const outcome = await this.deps.toolParsing.whole(content, this.tools);
      if ('parsed' in outcome) parsed = outcome.parsed;
      else headers[TEXT_MODE_HEADER] = describeTextMode(outcome.textMode);
    }
    const shaped = shapeWhole(body, { kind: this.kind, ...(this.model !== undefined ? { model: this.model } : {}) }, parsed);
    if (shaped.lostCall) noteLostCall(this.deps);
    if (this.#replayed !== undefined) headers[REPLAYED_HEADER] = String(this.#replayed);
    sendJson(this.res, 200, shaped.body, headers);
  }

  async fail(error: TaskError): Promise<void> {
    const { code, status, message } = publicUpstreamError(error);
    sendError(this.res, code, message, { status });
  }

  refuse(code: PublicErrorCode, message: string, retryAfterSeconds?: number): void {
    sendError(this.res, code, message, retryAfterSeconds !== undefined ? { retryAfterSeconds } : {});
  }

  release(): void {}
}
