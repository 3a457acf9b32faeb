import type { ServerResponse } from 'node:http';
import type { ModelServerLostError, Supervisor } from '../host/index.js';
import { timelineOf } from '../observability/timeline.js';
import { StreamShaper, wholeContent, type ParsedContent, type StreamChunk } from '../openai/index.js';
import type { InferMessage, InferTask, TaskError } from '../pool/messages.js';
import type { FlowControl } from '../pool/pools.js';
import type { ToolDefinition } from '../tools/index.js';
import type { CompletionDependencies } from './dependencies.js';
import { publicUpstreamError, type PublicErrorCode } from './errors.js';
import type { ErrorWriter, Responder, StreamFormat, WholeFormat } from './apis/api.js';
import { sendJson, startSse } from './responses.js';
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

/** The request's timeline, for a client that asked for it, as the answer's headers go out. */
function serverTiming(res: ServerResponse): Record<string, string> {
  const timeline = timelineOf(res);
  if (!timeline) return {};
  timeline.mark('respond');
  return { 'server-timing': timeline.serverTiming() };
}

function noteLostCall({ metrics, logger }: CompletionDependencies): void {
  metrics.lostToolCalls.inc();
  logger.warn({ event: 'lost_tool_call' }, 'the model server said finish_reason "tool_calls" but sent no call (its parser dropped it)');
}


const NOTHING_PARSED: ParsedContent = { content: '', calls: [] };

/**
 * A streaming client, in its API's framing (`StreamFormat`). When the worker frames the stream
 * (no tools to parse), its SSE text goes out as it comes. Otherwise chunks come here: their content
 * goes through tool parsing (in the parse pool, one chunk at a time, in order) when tools were
 * declared, then the format frames them.
 */
export class StreamResponder implements Responder {
  readonly task: Pick<InferTask, 'stream' | 'stopSequences'>;
  #format: StreamFormat;
  #parsing: StreamParsing | undefined;
  #released = false;
  /** Chunks in the order they came, each waiting for the one before to be parsed and written. */
  #queue: Promise<void> = Promise.resolve();
  /** Bumped when an attempt is abandoned, so that its queued chunks are dropped. */
  #attempt = 0;
  #textModeSaid = false;
  #flow: FlowControl | undefined;
  #paused = false;
  #started = false;
  #replayed: number | undefined;

  constructor(
    readonly res: ServerResponse,
    format: StreamFormat,
    /** Declared tools, whose calls are parsed out of the content (none: nothing is parsed). */
    readonly tools: ToolDefinition[],
    readonly sendError: ErrorWriter,
    readonly deps: CompletionDependencies,
    stopSequences?: string[],
  ) {
    this.#format = format;
    this.task = { stream: { ...format.shaping, chunksToCaller: !format.framedByWorker }, ...(stopSequences?.length ? { stopSequences } : {}) };
    // Opening a parse stream costs the main thread more than dispatching the inference call: it
    // is opened once the call is on its way (or when first needed), while the model server works.
    if (tools.length > 0) setImmediate(() => this.#openParsing());
  }

  /** This attempt's tool parsing, opened on first use; none without declared tools or once released. */
  #openParsing(): StreamParsing | undefined {
    if (!this.#parsing && this.tools.length > 0 && !this.#released) this.#parsing = this.deps.toolParsing.stream(this.tools);
    return this.#parsing;
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    const textMode = this.#openParsing()?.textMode;
    if (textMode) this.#textModeSaid = true;
    startSse(this.res, {
      ...serverTiming(this.res),
      ...(textMode ? { [TEXT_MODE_HEADER]: describeTextMode(textMode) } : {}),
      ...(this.#replayed !== undefined ? { [REPLAYED_HEADER]: String(this.#replayed) } : {}),
    });
    this.#write(this.#format.begin());
  }

  #write(text: string): void {
    if (!text) return;
    this.#start();
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
    return this.#format.hasContent;
  }

  abandon(): void {
    this.#attempt++;
    this.#parsing?.release();
    // The next attempt parses its answer from the start, with a stream of its own.
    this.#parsing = undefined;
  }

  replayed(times: number): void {
    this.#replayed = times;
    this.#format = this.#format.again();
    if (this.#started) this.#write(this.#format.note(`sent again (${times}) after a model server restart`));
  }

  keepAlive(): void {
    this.#start();
    this.#write(this.#format.note('waiting for the model server to restart'));
  }

  receive(message: InferMessage): void {
    if (message.type === 'sse') this.#write(this.#format.text(message.text));
    else if (message.type === 'items') {
      const attempt = this.#attempt;
      this.#queue = this.#queue.then(() => this.#finishAndWrite(message.items, attempt));
    } else if (message.type === 'stream_end') this.#workerEnded(message);
  }

  async #finishAndWrite(items: Array<string | StreamChunk>, attempt: number): Promise<void> {
    if (attempt !== this.#attempt) return;
    const parsing = this.#openParsing();
    for (let i = 0; i < items.length; ) {
      if (attempt !== this.#attempt) return;
      const item = items[i]!;
      if (typeof item === 'string') {
        this.#write(this.#format.text(item));
        i++;
        continue;
      }
      // The chunks that came together are parsed together: one round trip to the parse worker
      // (and the end of the answer with them, when they hold it), whose result goes out with the
      // last of them; the others go out without their content, which it holds.
      let next = i;
      while (next < items.length && typeof items[next] !== 'string') next++;
      const chunks = items.slice(i, next) as StreamChunk[];
      i = next;
      // The result rides on the last chunk that has content or ends the answer (a usage chunk may follow).
      const carrier = chunks.findLastIndex((chunk) => StreamShaper.content(chunk) !== undefined || StreamShaper.finishes(chunk));
      let parsed: ParsedContent | undefined;
      if (parsing && carrier >= 0) {
        const text = chunks.map((chunk) => StreamShaper.content(chunk) ?? '').join('');
        parsed = await parsing.push(text, chunks.some((chunk) => StreamShaper.finishes(chunk)));
        if (attempt !== this.#attempt) return;
        this.#sayTextMode(parsing.textMode);
      }
      for (const [n, chunk] of chunks.entries()) {
        const own = n === carrier ? parsed : parsing && StreamShaper.content(chunk) !== undefined ? NOTHING_PARSED : undefined;
        this.#write(this.#format.chunk(chunk, own));
      }
    }
  }

  /** Once parsing stopped mid-stream: a note says so (the header, if nothing was sent yet). */
  #sayTextMode(reason: TextModeReason | undefined): void {
    if (!reason || this.#textModeSaid) return;
    if (!this.#started) return this.#start();
    this.#textModeSaid = true;
    this.#write(this.#format.note(`tool parsing ${describeTextMode(reason)}; the rest passes through as text`));
  }

  #streamEnded({ sawFinish, lostCall }: { sawFinish: boolean; lostCall: boolean }): void {
    if (lostCall) noteLostCall(this.deps);
    if (!sawFinish) this.deps.logger.warn({ event: 'stream_without_finish' }, 'the stream ended without a finish reason');
  }

  #workerEnded(message: { sawFinish: boolean; lostCall: boolean; completionTokens: number }): void {
    this.deps.traffic.tokens(message.completionTokens);
    // The worker finished the chunks only when it framed them; otherwise `finish` hears it from the format.
    if (this.#format.framedByWorker) this.#streamEnded(message);
  }

  async finish(): Promise<void> {
    await this.#queue;
    if (!this.#format.framedByWorker) this.#streamEnded(this.#format);
    this.#start();
    this.#write(this.#format.end());
    this.res.end();
  }

  release(): void {
    this.#released = true;
    this.#parsing?.release();
  }

  async fail(error: TaskError): Promise<void> {
    await this.#queue;
    const { code, status, message } = publicUpstreamError(error);
    if (!this.#started) return this.sendError(this.res, code, message, { status });
    this.refuse(code, message);
  }

  refuse(code: PublicErrorCode, message: string, retryAfterSeconds?: number): void {
    if (!this.#started) {
      this.sendError(this.res, code, message, retryAfterSeconds !== undefined ? { retryAfterSeconds } : {});
      return;
    }
    // Headers are gone: say so in the stream and end it.
    this.res.write(this.#format.error(code, message));
    this.res.end();
  }
}

/**
 * A non-streaming client: the worker aggregated the stream (or the server answered whole, for
 * logprobs); its content is then parsed for tool calls in the parse pool, and the format shapes it.
 */
export class WholeResponder implements Responder {
  readonly task: Pick<InferTask, 'aggregate' | 'stopSequences'>;
  readonly contentSent = false;
  #replayed: number | undefined;

  constructor(
    readonly res: ServerResponse,
    readonly format: WholeFormat,
    kind: 'chat' | 'text',
    /** Declared tools, whose calls are parsed out of the content (none: nothing is parsed). */
    readonly tools: ToolDefinition[],
    readonly sendError: ErrorWriter,
    readonly deps: CompletionDependencies,
    stopSequences?: string[],
  ) {
    this.task = { aggregate: { kind, model: 'default_model' }, ...(stopSequences?.length ? { stopSequences } : {}) };
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
    const content = this.tools.length > 0 ? wholeContent(body) : '';
    let parsed: ParsedContent | undefined;
    if (content !== '') {
      const outcome = await this.deps.toolParsing.whole(content, this.tools);
      if ('parsed' in outcome) parsed = outcome.parsed;
      else headers[TEXT_MODE_HEADER] = describeTextMode(outcome.textMode);
    }
    this.deps.traffic.tokens(Number((body.usage as { completion_tokens?: unknown } | undefined)?.completion_tokens ?? 0));
    const shaped = this.format.shape(body, parsed);
    if (shaped.lostCall) noteLostCall(this.deps);
    if (this.#replayed !== undefined) headers[REPLAYED_HEADER] = String(this.#replayed);
    sendJson(this.res, 200, shaped.body, { ...headers, ...serverTiming(this.res) });
  }

  async fail(error: TaskError): Promise<void> {
    const { code, status, message } = publicUpstreamError(error);
    this.sendError(this.res, code, message, { status });
  }

  refuse(code: PublicErrorCode, message: string, retryAfterSeconds?: number): void {
    this.sendError(this.res, code, message, retryAfterSeconds !== undefined ? { retryAfterSeconds } : {});
  }

  release(): void {}
}
