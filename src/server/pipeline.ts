import type { ServerResponse } from 'node:http';
import { AnswerMerge, AnswerStream, mergeWhole, parseRuns, wholeContent, type AnswerEvent, type PublicErrorCode, type StreamFraming, type WholeFraming } from '../answer/index.js';
import type { ModelServerLostError, Supervisor } from '../supervisor/index.js';
import { timelineOf } from '../observability/timeline.js';
import type { ParsedContent } from '../openai/index.js';
import type { InferMessage, InferTask, TaskError } from '../pool/messages.js';
import type { AttemptControl } from '../pool/pools.js';
import type { CompletionDependencies } from './dependencies.js';
import { publicUpstreamError } from './errors.js';
import type { AnswerPlan, ErrorWriter } from './apis/api.js';
import { sendJson, startStream } from './responses.js';
import { describeTextMode, describeUnparsed, type StreamParsing, type TextModeReason } from './tool-parsing.js';

/** Set when tool calls were not parsed, so a client can tell why markup stayed in the content. */
export const TEXT_MODE_HEADER = 'x-mlx-guard-tool-parsing';
/** Set on an answer that came from a replay: how many times the request was sent again. */
export const REPLAYED_HEADER = 'x-mlx-guard-replayed';
/** Set when a request's `max_tokens` (or a synonym) was lowered: `<cap>; requested=<what it asked>`. */
export const MAX_TOKENS_HEADER = 'x-mlx-guard-max-tokens';

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


/** Answers one client while its request runs, in its API's shape; attempts (replays) share it. */
export interface Responder {
  /** What the inference worker does with this attempt's answer: shape a stream (and frame it, when nothing is parsed; else feed its text to the parser), or aggregate it. */
  attemptTask(): Pick<InferTask, 'stream' | 'aggregate' | 'stopSequences'>;
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
  /** Keeps the client's connection alive while the request waits (a comment saying `why`, for a stream). */
  keepAlive(why: string): void;
  /** Takes the attempt's control, before it is dispatched: to hold the model server back while the client reads slowly, and to feed the parser (streams). */
  takeControl(control: AttemptControl): void;
  /** Releases what the responder holds, however the request ended. */
  release(): void;
}

/** A streaming client waiting for its model server (loading, restarting) hears from mlx-guard this often. */
export const KEEPALIVE_EVERY_MS = 5_000;

/** The pipeline that answers one request, as its API planned it: streamed or whole. */
export function answerPipeline(res: ServerResponse, plan: AnswerPlan, sendError: ErrorWriter, deps: CompletionDependencies): Responder {
  return 'stream' in plan.framing ? new StreamPipeline(res, plan, plan.framing.stream, sendError, deps) : new WholePipeline(res, plan, plan.framing.whole, sendError, deps);
}

const NOTHING_PARSED: ParsedContent = { content: '', calls: [] };

/** A chunk of a run whose content went to the parser with the run's carrier goes out without it. */
const contentGoneToCarrier = (event: AnswerEvent): ParsedContent | undefined => (event.type === 'chunk' && AnswerMerge.content(event.chunk) !== undefined ? NOTHING_PARSED : undefined);

/**
 * A streaming client's answer: shape (the inference worker: its events' JSON parsed) → parse
 * (the parse pool, when tools were declared) → merge → frame (`AnswerStream`, in the API's
 * framing), in one object, in order. An answer with nothing to parse whose framing is portable
 * is merged and framed in the worker instead, and only its text comes here: the one choice of
 * where a stream is framed, made in the constructor.
 */
class StreamPipeline implements Responder {
  readonly #task: Pick<InferTask, 'stream' | 'stopSequences'>;
  /** Merge and frame, here; for the first attempt's framing when the worker frames. */
  #answer: AnswerStream;
  /** The worker framed some of the answer's content (it frames when `task.stream.framing` is set). */
  #workerContent = false;
  #parsing: StreamParsing | undefined;
  #released = false;
  /** Events in the order they came, each batch waiting for the one before to be parsed and written. */
  #queue: Promise<void> = Promise.resolve();
  /** Bumped when an attempt is abandoned, so that its queued events are dropped. */
  #attempt = 0;
  #textModeSaid = false;
  #flow: AttemptControl | undefined;
  #paused = false;
  #started = false;
  #replayed: number | undefined;

  constructor(
    readonly res: ServerResponse,
    readonly plan: AnswerPlan,
    framing: StreamFraming,
    readonly sendError: ErrorWriter,
    readonly deps: CompletionDependencies,
  ) {
    this.#answer = new AnswerStream(framing);
    const parses = plan.tools.length > 0;
    const portable = parses ? undefined : framing.portable;
    this.#task = {
      stream: { kind: plan.kind, ...(portable ? { framing: portable } : {}), ...(parses ? { feedsParser: true } : {}) },
      ...(plan.stopSequences?.length ? { stopSequences: plan.stopSequences } : {}),
    };
  }

  /** This attempt's tool parsing, opened on first use; none without declared tools or once released. */
  #openParsing(): StreamParsing | undefined {
    if (!this.#parsing && this.plan.tools.length > 0 && !this.#released) this.#parsing = this.deps.toolParsing.stream(this.plan.tools);
    return this.#parsing;
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    const textMode = this.#openParsing()?.textMode;
    if (textMode) this.#textModeSaid = true;
    startStream(this.res, {
      ...serverTiming(this.res),
      ...(textMode ? { [TEXT_MODE_HEADER]: describeTextMode(textMode) } : {}),
      ...(this.#replayed !== undefined ? { [REPLAYED_HEADER]: String(this.#replayed) } : {}),
    }, this.#answer.framing.contentType);
    this.#write(this.#answer.framing.begin());
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

  attemptTask(): Pick<InferTask, 'stream' | 'stopSequences'> {
    return this.#task;
  }

  /**
   * This attempt's control (each attempt is a new upstream call). With tools declared, the
   * attempt's parse stream is opened as soon as the call is dispatched (opening one costs the main
   * thread more than dispatching), while the model server works, and its feed handed to the
   * inference worker: the answer's text then goes from there straight to the parse worker, one
   * thread crossing fewer per chunk, and only the reply comes here.
   */
  takeControl(control: AttemptControl): void {
    this.#flow = control;
    this.#paused = false;
    if (this.plan.tools.length === 0) return;
    // Always said, once: the worker holds the text until it knows where it goes.
    queueMicrotask(() => control.feedParser(this.#openParsing()?.takeFeed()));
  }

  get contentSent(): boolean {
    return this.#workerContent || this.#answer.framing.hasContent;
  }

  abandon(): void {
    this.#attempt++;
    this.#parsing?.release();
    // The next attempt parses its answer from the start, with a stream of its own.
    this.#parsing = undefined;
  }

  replayed(times: number): void {
    this.#replayed = times;
    this.#answer = new AnswerStream(this.#answer.framing.again());
    if (this.#started) this.#write(this.#answer.framing.note(`sent again (${times}) after a model server restart`));
  }

  keepAlive(why: string): void {
    this.#start();
    this.#write(this.#answer.framing.note(why));
  }

  receive(message: InferMessage): void {
    if (message.type === 'framed') {
      this.#workerContent ||= message.hasContent;
      this.#write(message.text);
    } else if (message.type === 'events') {
      const attempt = this.#attempt;
      this.#queue = this.#queue.then(() => this.#parseAndWrite(message.events, attempt));
    } else if (message.type === 'answer_end') this.#answerEnded(message);
  }

  async #parseAndWrite(events: AnswerEvent[], attempt: number): Promise<void> {
    if (attempt !== this.#attempt) return;
    const parsing = this.#openParsing();
    let written = 0;
    // What is written without waiting goes out as one write (each write is a syscall).
    const writeUpTo = (to: number, own?: (event: AnswerEvent, index: number) => ParsedContent | undefined) => {
      this.res.cork();
      for (; written < to; written++) this.#write(this.#answer.event(events[written]!, own?.(events[written]!, written)));
      this.res.uncork();
    };
    // The chunks that came together are parsed together: one round trip to the parse worker per
    // run (the inference worker sent it the run's text already, when it feeds the parser), whose
    // result goes out with the run's carrier; the other chunks go out without their content.
    for (const run of parsing ? parseRuns(events) : []) {
      writeUpTo(run.from);
      let parsed: ParsedContent | undefined;
      if (run.carrier >= 0) {
        parsed = await parsing!.push(run.text, run.end);
        if (attempt !== this.#attempt) return;
        this.#sayTextMode(parsing!.textMode);
      }
      writeUpTo(run.to, (event, index) => (index - run.from === run.carrier ? parsed : contentGoneToCarrier(event)));
      if (run.end && parsing!.unparsed !== undefined) this.#write(this.#answer.framing.note(`tool parsing ${describeUnparsed(parsing!.unparsed)}; the call passed through as text`));
    }
    writeUpTo(events.length);
  }

  /** Once parsing stopped mid-stream: a note says so (the header, if nothing was sent yet). */
  #sayTextMode(reason: TextModeReason | undefined): void {
    if (!reason || this.#textModeSaid) return;
    if (!this.#started) return this.#start();
    this.#textModeSaid = true;
    this.#write(this.#answer.framing.note(`tool parsing ${describeTextMode(reason)}; the rest passes through as text`));
  }

  /** What the answer showed at its end, wherever it was merged. */
  #answerEnded({ sawFinish, lostCall, completionTokens }: { sawFinish: boolean; lostCall: boolean; completionTokens: number }): void {
    this.deps.traffic.tokens(completionTokens);
    if (lostCall) noteLostCall(this.deps);
    if (!sawFinish) this.deps.logger.warn({ event: 'stream_without_finish' }, 'the stream ended without a finish reason');
  }

  async finish(): Promise<void> {
    await this.#queue;
    // Where the worker frames, it merged too, and its `answer_end` said how the answer ended.
    if (!this.#task.stream?.framing) this.#answerEnded(this.#answer.merge);
    this.#start();
    // The stream's last words and its end in one write: each write is a syscall.
    this.res.end(this.#answer.framing.end());
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
    this.res.end(this.#answer.framing.error(code, message));
  }
}

/**
 * A non-streaming client's answer: the worker aggregated the stream (or the server answered
 * whole, for logprobs); its content is parsed for tool calls in the parse pool when tools were
 * declared, then merged, then framed.
 */
class WholePipeline implements Responder {
  readonly #task: Pick<InferTask, 'aggregate' | 'stopSequences'>;
  readonly contentSent = false;
  #replayed: number | undefined;

  constructor(
    readonly res: ServerResponse,
    readonly plan: AnswerPlan,
    readonly framing: WholeFraming,
    readonly sendError: ErrorWriter,
    readonly deps: CompletionDependencies,
  ) {
    this.#task = { aggregate: { kind: plan.kind, model: 'default_model' }, ...(plan.stopSequences?.length ? { stopSequences: plan.stopSequences } : {}) };
  }

  attemptTask(): Pick<InferTask, 'aggregate' | 'stopSequences'> {
    return this.#task;
  }

  receive(): void {}

  abandon(): void {}

  replayed(times: number): void {
    this.#replayed = times;
  }

  keepAlive(): void {}

  takeControl(): void {}

  async finish(body?: Record<string, unknown>): Promise<void> {
    if (!body) throw new Error('the inference worker finished without an answer');
    const headers: Record<string, string> = {};
    const content = this.plan.tools.length > 0 ? wholeContent(body) : '';
    let parsed: ParsedContent | undefined;
    if (content !== '') {
      const outcome = await this.deps.toolParsing.whole(content, this.plan.tools);
      if ('textMode' in outcome) headers[TEXT_MODE_HEADER] = describeTextMode(outcome.textMode);
      else {
        parsed = outcome.parsed;
        if (outcome.unparsed !== undefined) headers[TEXT_MODE_HEADER] = describeUnparsed(outcome.unparsed);
      }
    }
    this.deps.traffic.tokens(Number((body.usage as { completion_tokens?: unknown } | undefined)?.completion_tokens ?? 0));
    const merged = mergeWhole(body, parsed);
    if (merged.lostCall) noteLostCall(this.deps);
    if (this.#replayed !== undefined) headers[REPLAYED_HEADER] = String(this.#replayed);
    sendJson(this.res, 200, this.framing.body(merged.completion), { ...headers, ...serverTiming(this.res) });
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
