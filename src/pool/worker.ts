// The pools' worker entry: in the inference pool it serves its line (one upstream call per call
// on it, streamed back on it); in the parse pool it runs the task `parseStream` (one answer's tool
// calls, chunk by chunk over a port). Neither imports server
// code, and nothing it imports reaches zod (the layers' lean entries: answer/portable.ts,
// openai/answers.ts; test/unit/architecture/imports.test.ts holds it to that).
import { threadId, type MessagePort } from 'node:worker_threads';
import { AnswerStream, framingFrom, parseRuns, type AnswerEvent } from '../answer/portable.js';
import { CompletionAggregator, filterEvent, StopSequenceFilter, wholeAsEvents } from '../openai/answers.js';
import { parserRegistry } from '../tools/index.js';
import { completeOnce, streamCompletion, UpstreamError, type SseEvent } from '../upstream/index.js';
import { epochMs, markOnce, type Marks } from '../observability/timeline.js';
import { within } from '../util/deadlines.js';
import { isInferenceWorker, serveInferenceLine, type CallOnLine } from './worker-line.js';
import {
  type InferControlMessage,
  type InferMessage,
  type InferResult,
  type InferTask,
  type ParseStreamFeed,
  type ParseStreamReply,
  type ParseStreamRequest,
  type ParseStreamStarted,
  type ParseStreamTask,
  type TaskError,
} from './messages.js';

/**
 * Calls the model server: a streaming client's text is posted on the worker's line as it comes, a
 * whole answer is the call's result. An `abort` on the line cancels the upstream request (the
 * other calls on this worker go on).
 */
export async function infer(task: InferTask, call: CallOnLine): Promise<InferResult> {
  const controller = new AbortController();
  const flow = new Flow(controller.signal);
  const feed = task.stream?.feedsParser ? new ParserFeed() : undefined;
  call.onControl((message: InferControlMessage) => {
    if (message.type === 'abort') controller.abort(new DOMException('the client went away', 'AbortError'));
    else if (message.type === 'pause') flow.pause();
    else if (message.type === 'resume') flow.resume();
    else feed?.handOver(message.port);
  });
  if (feed) controller.signal.addEventListener('abort', () => feed.close(), { once: true });
  try {
    return await runInference(task, call.post, controller.signal, flow, feed);
  } finally {
    // An answer read at once may end before its parse stream's port arrives: what is held for the parser waits for it.
    if (feed?.holding) await within(feed.handedOver, FEED_HAND_OVER_WITHIN_MS, undefined);
    feed?.close();
    flow.resume();
  }
}

/**
 * Backpressure from a client that reads slower than the model writes: while paused, the stream is
 * not read, so the socket to the model server fills and its writes wait, instead of the answer
 * piling up in mlx-guard's memory. An abort ends the pause.
 */
class Flow {
  #paused: Promise<void> | undefined;
  #resume: (() => void) | undefined;

  constructor(readonly signal: AbortSignal) {
    signal.addEventListener('abort', () => this.resume(), { once: true });
  }

  pause(): void {
    if (this.#paused || this.signal.aborted) return;
    this.#paused = new Promise((resolve) => (this.#resume = resolve));
  }

  resume(): void {
    this.#resume?.();
    this.#paused = this.#resume = undefined;
  }

  /** Undefined while flowing; else resolves when the stream may be read again. */
  get paused(): Promise<void> | undefined {
    return this.#paused;
  }
}

/**
 * The answer's text, sent from here straight to its parse worker, batch by batch, in the runs the
 * calling thread matches the replies to (`parseRuns`): one thread crossing on the way to the
 * parser instead of two. The calling thread opens the parse stream once this call is on its way
 * (opening one costs it more than dispatching the call) and hands its port over; text read before
 * then is held for it, and dropped if it hands none (it parses nothing).
 */
class ParserFeed {
  #port: MessagePort | undefined;
  #held: ParseStreamRequest[] | undefined = [];
  #handedOver!: () => void;
  /** Resolves once the calling thread said where the text goes, or the call ended. */
  readonly handedOver = new Promise<void>((resolve) => (this.#handedOver = resolve));

  /** Text is held for a port that has not come yet. */
  get holding(): boolean {
    return (this.#held?.length ?? 0) > 0;
  }

  send(events: readonly AnswerEvent[]): void {
    for (const run of parseRuns(events)) {
      if (run.carrier < 0) continue;
      const request: ParseStreamRequest = run.end ? { text: run.text, end: true } : { text: run.text };
      if (this.#port) this.#port.postMessage(request);
      else this.#held?.push(request);
    }
  }

  handOver(port: MessagePort | undefined): void {
    const held = this.#held;
    this.#held = undefined;
    this.#handedOver();
    if (!port || !held) return port?.close();
    this.#port = port;
    for (const request of held) port.postMessage(request);
  }

  close(): void {
    this.#held = undefined;
    this.#handedOver();
    this.#port?.close();
  }
}

/**
 * The calling thread hands the port over as soon as the call is dispatched (a moment, unless it
 * is very busy); an answer that ended first waits for it at most this long before its result.
 */
const FEED_HAND_OVER_WITHIN_MS = 2_000;

/** The calling thread hears of progress at least this often while a call makes any. */
const PROGRESS_EVERY_MS = 1_000;

async function runInference(task: InferTask, postMessage: (message: InferMessage) => void, signal: AbortSignal, flow: Flow, feed: ParserFeed | undefined): Promise<InferResult> {
  // Every message counts as progress there, so a progress message goes only when nothing else
  // did for a while (a long prefill's keepalives for a whole answer, tool-call markup held back):
  // a fast answer costs no message more than it did before.
  let lastPostAt = performance.now();
  const post = (message: InferMessage) => {
    lastPostAt = performance.now();
    postMessage(message);
  };
  // Only for a request that asked for its timeline: where the worker's time went.
  const marks: Marks | undefined = task.timeline ? [['worker', epochMs()]] : undefined;
  const onProgress = () => {
    if (marks) markOnce(marks, 'upstream_headers');
    if (performance.now() - lastPostAt >= PROGRESS_EVERY_MS) post({ type: 'progress' });
  };
  const options = { signal, headersTimeoutMs: task.headersTimeoutMs, idleTimeoutMs: task.idleTimeoutMs, onProgress, ...(task.apiKey !== undefined ? { apiKey: task.apiKey } : {}) };
  try {
    if (task.stream) {
      const { kind, framing } = task.stream;
      // The one choice of where an answer is framed, made by the calling thread: here when it has nothing to parse.
      const answer = framing ? new AnswerStream(framingFrom(framing)) : undefined;
      const upstream = task.upstreamStreams ? streamCompletion(task.url, task.body, options) : wholeAsEvents(await completeOnce(task.url, task.body, options), kind);
      const events = task.stopSequences ? stopAt(upstream, kind, task.stopSequences) : upstream;
      const batch = new Batch(post, feed);
      try {
        for await (const event of events) {
          const paused = flow.paused;
          if (paused) {
            batch.flush();
            await paused;
          }
          if (marks && markOnce(marks, 'upstream_first_event')) post({ type: 'timeline', marks });
          const shaped = shape(event);
          if (answer) batch.text(answer.event(shaped), answer.framing.hasContent);
          else batch.event(shaped);
        }
      } finally {
        batch.flush();
      }
      if (answer) post({ type: 'answer_end', sawFinish: answer.merge.sawFinish, lostCall: answer.merge.lostCall, completionTokens: answer.merge.completionTokens });
      return { ok: true };
    }
    if (task.upstreamStreams && task.aggregate) {
      const aggregator = new CompletionAggregator(task.aggregate.kind, task.aggregate.model);
      const upstream = streamCompletion(task.url, task.body, options);
      for await (const event of task.stopSequences ? stopAt(upstream, task.aggregate.kind, task.stopSequences) : upstream) {
        if (marks) markOnce(marks, 'upstream_first_event');
        if (event.type === 'data') aggregator.add(JSON.parse(event.data) as Record<string, unknown>);
      }
      marks?.push(['upstream_end', epochMs()]);
      return { ok: true, body: aggregator.result(), ...(marks ? { marks } : {}) };
    }
    const body = await completeOnce(task.url, task.body, options);
    marks?.push(['upstream_end', epochMs()]);
    return { ok: true, body, ...(marks ? { marks } : {}) };
  } catch (error) {
    return { ok: false, error: toTaskError(error, signal.aborted) };
  }
}

/**
 * The events up to the first stop sequence, which ends the answer there: the upstream request is
 * then closed (returning from this generator closes the one it reads), so the model stops too.
 */
async function* stopAt(events: AsyncIterable<SseEvent> | Iterable<SseEvent>, kind: 'chat' | 'text', sequences: readonly string[]): AsyncGenerator<SseEvent> {
  const filter = new StopSequenceFilter(sequences);
  for await (const event of events) {
    const { event: filtered, stopped } = filterEvent(event, kind, filter);
    yield filtered;
    if (stopped) {
      yield { type: 'done' };
      return;
    }
  }
}

/** An upstream SSE event as the answer pipeline takes it: a data event's JSON parsed. */
function shape(event: SseEvent): AnswerEvent {
  if (event.type === 'data') return { type: 'chunk', chunk: JSON.parse(event.data) as Record<string, unknown> };
  return event;
}

/**
 * What arrives together (one network read holds several events when the server is fast) goes to
 * the calling thread as one message, and so to the client as one write: each message wakes that
 * thread and each write is a syscall. A lone token goes out as soon as the reads in hand are done.
 */
class Batch {
  #text = '';
  #hasContent = false;
  #events: AnswerEvent[] = [];
  #scheduled = false;

  constructor(
    readonly post: (message: InferMessage) => void,
    readonly feed?: ParserFeed,
  ) {}

  /** Framed text for the client. */
  text(text: string, hasContent: boolean): void {
    if (text === '') return;
    this.#text += text;
    this.#hasContent = hasContent;
    this.#schedule();
  }

  /** An event for the calling thread's pipeline. */
  event(event: AnswerEvent): void {
    this.#events.push(event);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.#scheduled = false;
    if (this.#text) this.post({ type: 'framed', text: this.#text, hasContent: this.#hasContent });
    if (this.#events.length > 0) {
      // The parser first: its reply is what the calling thread waits for.
      this.feed?.send(this.#events);
      this.post({ type: 'events', events: this.#events });
    }
    this.#text = '';
    this.#events = [];
  }
}

/** How much of the parser's reason for a call it could not read goes back (it names the call and its fault; the text itself is in the answer). */
const UNPARSED_REASON_CHARS = 300;

/**
 * One streamed answer's tool parsing: each request on the port gets one reply, in order. The
 * time spent parsing is summed; once it passes the budget the reply says so and the task ends,
 * so a pathological answer costs this worker at most its budget (and one chunk).
 */
export function parseStream(task: ParseStreamTask): Promise<void> {
  const parser = parserRegistry.createStreamParser(task.options);
  let spentMs = 0;
  return new Promise((resolve) => {
    let feed: MessagePort | undefined;
    const finish = () => {
      task.port.close();
      feed?.close();
      resolve();
    };
    const parse = (request: ParseStreamRequest) => {
      const started = performance.now();
      let reply: ParseStreamReply;
      try {
        const pushed = parser.push(request.text);
        const ended = request.end ? parser.end() : undefined;
        spentMs += performance.now() - started;
        const { content, calls } = ended ? { content: pushed.content + ended.content, calls: [...pushed.calls, ...ended.calls] } : pushed;
        reply = { ok: true, content, calls, resumeAt: parser.resumeAt, overBudget: spentMs > task.budgetMs };
        if (ended?.result.status === 'error') reply.unparsed = ended.result.diagnostics.join('; ').slice(0, UNPARSED_REASON_CHARS);
      } catch (error) {
        reply = { ok: false, message: (error as Error)?.message ?? String(error) };
      }
      task.port.postMessage(reply);
      if (request.end || !reply.ok || reply.overBudget) finish();
    };
    task.port.on('message', (message: ParseStreamRequest | ParseStreamFeed) => {
      if (!('type' in message)) return parse(message);
      // The requests come on the feed from now on (the inference worker sends them); the replies still go on the task's port.
      feed = message.port;
      feed.on('message', parse);
    });
    // The calling thread closing its end (client gone) ends the task.
    task.port.on('close', finish);
    // Deadlines count from here: starting a worker is not parse time.
    task.port.postMessage({ type: 'started', threadId } satisfies ParseStreamStarted);
  });
}

function toTaskError(error: unknown, aborted: boolean): TaskError {
  if (error instanceof UpstreamError) return { code: error.code, message: error.message, status: error.status, countsAsFailure: error.countsAsFailure, aborted: false };
  return { code: aborted ? 'ABORTED' : 'ERR_INTERNAL', message: String((error as Error)?.message ?? error), countsAsFailure: !aborted, aborted };
}

if (isInferenceWorker) serveInferenceLine(infer);

// Piscina falls back to require() (which cannot load TypeScript) when a module has no default export.
export default parseStream;
