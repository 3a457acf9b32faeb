import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { Logger } from '../observability/logger.js';
import { within } from '../util/deadlines.js';
import type { ParseOptions } from '../tools/index.js';
import type { InferControlMessage, InferLineControl, InferLineMessage, InferLineOffer, InferMessage, InferPortMessage, InferResult, InferTask, ParseStreamTask } from './messages.js';
import { ParseStream } from './parse-stream.js';

// From src (tests, tsx) the worker is TypeScript and needs tsx to load on Node 20; from dist it is JS.
const fromSource = import.meta.url.endsWith('.ts');
const workerFile = new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url).href;
const execArgv = fromSource ? ['--import', 'tsx'] : [];

/** The worker's task (its id is given here), plus what the calling thread keeps. */
export interface InferenceCall extends Omit<InferTask, 'id'> {
  /** Whole-request deadline, after which the call is cancelled and fails. */
  deadlineMs: number;
  /** The call is cancelled when any of these aborts (the caller's own, without one made to join them). */
  signals: readonly AbortSignal[];
  onMessage(message: InferMessage): void;
  /** Hands the caller the running call's control (a stream's), before the call is dispatched. */
  onControl?(control: AttemptControl): void;
}

export interface AttemptControl {
  /** Stops reading upstream (so the model server is held back too) until `resume`. */
  pause(): void;
  resume(): void;
  /** For a task that `feedsParser`: its answer's parse stream's feed (`ParseStream.takeFeed`), or none (the text is not wanted). Once. */
  feedParser(port: MessagePort | undefined): void;
}

/** How long a stream's last messages may trail its result (they are in flight between threads: microseconds, or a busy moment). */
const SETTLE_WITHIN_MS = 2_000;

export interface PoolOptions {
  inferenceThreads?: number;
  parseThreads?: number;
  /** Tasks one worker carries at once: streams in flight (inference), answers being parsed (parse). */
  tasksPerWorker?: number;
  workerFile?: string;
}

/**
 * Two pools for two kinds of work, so that parsing never holds up transport. Inference tasks are
 * long and I/O-bound: many share one worker, whose event loop must keep running between them
 * (atomics disabled), and each is cancelled by a message on its port. Parse tasks are CPU-bound:
 * an answer's parser lives in one parse worker for the answer's length and works only when a
 * chunk arrives (a whole answer is one chunk). Each chunk has a hard deadline: a parse that
 * overruns it has its worker terminated, which costs that worker, never the event loop.
 */
export class Pools {
  #inference: Piscina;
  /** Started with the first answer to parse: a server whose clients declare no tools never pays for its threads (about 34 MB each). */
  #parse: Piscina | undefined;
  readonly #parseOptions: ConstructorParameters<typeof Piscina>[0];
  readonly #logger: Logger;

  readonly #workerFile: string;
  #closed = false;
  /** The inference calls in flight, by the id their worker's line names them with. */
  readonly #calls = new Map<number, CallLink>();
  #lastCallId = 0;

  constructor(logger: Logger, options: PoolOptions = {}) {
    this.#logger = logger;
    this.#workerFile = options.workerFile ?? workerFile;
    const concurrentTasksPerWorker = options.tasksPerWorker ?? 64;
    this.#inference = this.#build('inference', { maxThreads: options.inferenceThreads ?? 1, concurrentTasksPerWorker, atomics: 'disabled' });
    // Every parse thread at once when the pool starts: Piscina hands a task to a busy worker
    // before it starts another, and answers spread over threads are what a runaway parse does not reach.
    const parseThreads = options.parseThreads ?? 2;
    this.#parseOptions = { minThreads: parseThreads, maxThreads: parseThreads, concurrentTasksPerWorker, atomics: 'disabled' };
  }

  get #parsePool(): Piscina {
    if (!this.#parse && this.#closed) throw new Error('the worker pools are closed');
    this.#parse ??= this.#build('parse', this.#parseOptions);
    return this.#parse;
  }

  get stats(): { inference: { queueSize: number; utilization: number }; parse: { queueSize: number; utilization: number } } {
    return {
      inference: { queueSize: this.#inference.queueSize, utilization: this.#inference.utilization },
      parse: { queueSize: this.#parse?.queueSize ?? 0, utilization: this.#parse?.utilization ?? 0 },
    };
  }

  #build(kind: 'inference' | 'parse', options: ConstructorParameters<typeof Piscina>[0]): Piscina {
    const pool = new Piscina({ filename: this.#workerFile, execArgv, minThreads: 1, idleTimeout: 60_000, ...options });
    pool.on('message', (message: unknown) => {
      const line = (message as Partial<InferLineOffer> | undefined)?.inferenceLine;
      if (line) this.#takeLine(line);
    });
    // Without a listener a worker error crashes the process; a worker that fails to start leaves
    // a pool that never spawns again, so it is rebuilt after a pause.
    pool.on('error', (error: unknown) => {
      this.#logger.error({ event: 'pool_error', pool: kind, err: error }, `${kind} worker pool error: ${(error as Error)?.message}`);
      if (pool.threads.length === 0) {
        setTimeout(() => {
          if (this.#closed) return;
          if (kind === 'inference' && this.#inference === pool) this.#inference = this.#build(kind, options);
          if (kind === 'parse' && this.#parse === pool) this.#parse = this.#build(kind, options);
          void pool.destroy();
        }, 1_000).unref();
      }
    });
    return pool;
  }

  /** Runs one upstream call in the inference pool; resolves once it ended (a stream's messages went to `onMessage`). */
  async infer(call: InferenceCall): Promise<InferResult> {
    const id = ++this.#lastCallId;
    const link = new CallLink(id, call.onMessage);
    this.#calls.set(id, link);
    const cancel = () => link.control({ type: 'abort' });
    call.onControl?.({ pause: () => link.control({ type: 'pause' }), resume: () => link.control({ type: 'resume' }), feedParser: (port) => link.control(port ? { type: 'parse', port } : { type: 'parse' }) });
    for (const signal of call.signals) signal.addEventListener('abort', cancel, { once: true });
    if (call.signals.some((signal) => signal.aborted)) cancel();
    try {
      const { deadlineMs: _deadline, signals: _signals, onMessage: _onMessage, onControl: _onControl, ...fields } = call;
      const task: InferTask = { ...fields, id };
      const run = (this.#inference.run(task, { name: 'infer' }) as Promise<InferResult>).catch(
        (error: unknown): InferResult => ({ ok: false, error: { code: 'ERR_WORKER', message: String((error as Error)?.message ?? error), countsAsFailure: true, aborted: false } }),
      );
      const result = await within(run, call.deadlineMs, undefined);
      if (!result) {
        cancel();
        return { ok: false, error: { code: 'ERR_DEADLINE', message: `no complete answer within ${call.deadlineMs} ms`, countsAsFailure: true, aborted: false } };
      }
      // The result may overtake the stream's last messages (see STREAM_SETTLED); a worker that died sends none.
      const workerLost = !result.ok && result.error.code === 'ERR_WORKER';
      if (call.stream && !workerLost && !link.isSettled && (await within(link.settled, SETTLE_WITHIN_MS, 'late')) === 'late') {
        this.#logger.error({ event: 'stream_messages_late' }, `an inference worker's stream messages did not end within ${SETTLE_WITHIN_MS} ms of its result; the stream may be cut`);
      }
      return result;
    } finally {
      for (const signal of call.signals) signal.removeEventListener('abort', cancel);
      this.#calls.delete(id);
      link.end();
    }
  }

  /** A worker's line (see `InferLineOffer`): each call's messages go to the call, by id. */
  #takeLine(line: MessagePort): void {
    line.on('message', ({ id, message }: InferLineMessage) => {
      const link = this.#calls.get(id);
      if (message.type !== 'started') return link?.receive(message);
      if (link) link.startedOn(line);
      // It started after its caller gave up on it (a deadline passed while it queued): stop it.
      else line.postMessage({ id, control: { type: 'abort' } } satisfies InferLineControl);
    });
    // Calls in flight keep the process alive through their pool; the line alone does not.
    line.unref();
  }

  /** Starts parsing one answer in a parse worker: text goes in chunk by chunk (a whole answer: one chunk), see `ParseStream`. */
  openParseStream(options: ParseOptions, budgetMs: number): ParseStream {
    const launch = () => {
      const { port1, port2 } = new MessageChannel();
      const task: ParseStreamTask = { options, budgetMs, port: port2 };
      // No abort signal: Piscina runs an abortable task alone on its worker, and answers share
      // workers. A runaway parse has its own thread terminated instead (Piscina then fails the
      // tasks that were on it and starts a new worker).
      return { port: port1, run: this.#parsePool.run(task, { name: 'parseStream', transferList: [port2] }) as Promise<void> };
    };
    return new ParseStream(launch, (threadId) => void this.#parse?.threads.find((thread) => thread.threadId === threadId)?.terminate());
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([this.#inference.destroy(), this.#parse?.destroy()]);
  }
}

/**
 * One inference call as the calling thread sees it on its worker's line: its messages in, its
 * control out. Control given before the call started in its worker (it may still queue in the
 * pool) waits for its start, when its worker is known.
 */
class CallLink {
  #line: MessagePort | undefined;
  #waiting: InferControlMessage[] = [];
  #ended = false;
  #settle!: () => void;
  isSettled = false;
  readonly settled = new Promise<void>((resolve) => (this.#settle = resolve));

  constructor(
    readonly id: number,
    readonly onMessage: (message: InferMessage) => void,
  ) {}

  startedOn(line: MessagePort): void {
    this.#line = line;
    for (const control of this.#waiting.splice(0)) this.#send(control);
  }

  receive(message: Exclude<InferPortMessage, { type: 'started' }>): void {
    if (message.type !== 'settled') return this.onMessage(message);
    this.isSettled = true;
    this.#settle();
  }

  control(control: InferControlMessage): void {
    if (this.#ended) return control.type === 'parse' ? control.port?.close() : undefined;
    if (this.#line) return this.#send(control);
    // Before the start only the last pause or resume matters: the waiting list stays a few entries long.
    if (control.type === 'pause' || control.type === 'resume') this.#waiting = this.#waiting.filter((waiting) => waiting.type !== 'pause' && waiting.type !== 'resume');
    this.#waiting.push(control);
  }

  #send(control: InferControlMessage): void {
    this.#line!.postMessage({ id: this.id, control } satisfies InferLineControl, control.type === 'parse' && control.port ? [control.port] : []);
  }

  /** The call is over: what waits for its start never goes (a parser's feed is closed, which ends its parse stream). */
  end(): void {
    this.#ended = true;
    for (const control of this.#waiting.splice(0)) if (control.type === 'parse') control.port?.close();
  }
}
