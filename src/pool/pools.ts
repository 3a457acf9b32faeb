import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { Logger } from '../observability/logger.js';
import { within } from '../util/deadlines.js';
import type { ParseOptions } from '../tools/index.js';
import { InferenceLines } from './inference-lines.js';
import type { InferLineOffer, InferMessage, InferResult, InferTask, ParseStreamTask } from './messages.js';
import { ParseStream } from './parse-stream.js';

// From src (tests, tsx) the worker is TypeScript and needs tsx to load on Node 20; from dist it is JS.
const fromSource = import.meta.url.endsWith('.ts');
const workerFile = new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url).href;
const execArgv = fromSource ? ['--import', 'tsx'] : [];

/** The worker's task, plus what the calling thread keeps. */
export interface InferenceCall extends InferTask {
  /** Whole-request deadline, after which the call is cancelled and fails. */
  deadlineMs: number;
  /** The call is cancelled when any of these aborts (the caller's own, without one made to join them). */
  signals: readonly AbortSignal[];
  onMessage(message: InferMessage): void;
  /** Hands the caller the call's control (a stream's) as it is sent, or as it waits for room on a worker. */
  onControl?(control: AttemptControl): void;
}

export interface AttemptControl {
  /** Stops reading upstream (so the model server is held back too) until `resume`. */
  pause(): void;
  resume(): void;
  /** For a task that `feedsParser`: its answer's parse stream's feed (`ParseStream.takeFeed`), or none (the text is not wanted). Once. */
  feedParser(port: MessagePort | undefined): void;
}

export interface PoolOptions {
  inferenceThreads?: number;
  parseThreads?: number;
  /** Calls one worker carries at once: streams in flight (inference), answers being parsed (parse). */
  tasksPerWorker?: number;
  workerFile?: string;
}

/**
 * Two pools for two kinds of work, so that parsing never holds up transport. Inference calls are
 * long and I/O-bound: many share one worker, whose event loop must keep running between them;
 * they go over each worker's line (`InferenceLines`), Piscina keeping the threads. Parse tasks are
 * CPU-bound: an answer's parser lives in one parse worker for the answer's length and works only
 * when a chunk arrives (a whole answer is one chunk). Each chunk has a hard deadline: a parse that
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
  readonly #lines: InferenceLines;
  readonly #inferenceThreads: number;

  constructor(logger: Logger, options: PoolOptions = {}) {
    this.#logger = logger;
    this.#workerFile = options.workerFile ?? workerFile;
    const concurrentTasksPerWorker = options.tasksPerWorker ?? 64;
    this.#lines = new InferenceLines(concurrentTasksPerWorker);
    // Every thread at once: Piscina starts more only for tasks it queues, and calls are no tasks of
    // its. No atomics: a worker waiting on them for Piscina's next task would not run its event loop.
    this.#inferenceThreads = options.inferenceThreads ?? 1;
    this.#inference = this.#build('inference', { minThreads: this.#inferenceThreads, maxThreads: this.#inferenceThreads, atomics: 'disabled', workerData: { role: 'inference' } });
    // Every parse thread at once when the pool starts: Piscina hands a task to a busy worker
    // before it starts another, and answers spread over threads are what a runaway parse does not reach.
    const parseThreads = options.parseThreads ?? 2;
    this.#parseOptions = { minThreads: parseThreads, maxThreads: parseThreads, concurrentTasksPerWorker, atomics: 'disabled', workerData: { role: 'parse' } };
  }

  get #parsePool(): Piscina {
    if (!this.#parse && this.#closed) throw new Error('the worker pools are closed');
    this.#parse ??= this.#build('parse', this.#parseOptions);
    return this.#parse;
  }

  get stats(): { inference: { queueSize: number; utilization: number }; parse: { queueSize: number; utilization: number } } {
    return {
      inference: { queueSize: this.#lines.waiting, utilization: this.#lines.running / (this.#inferenceThreads * this.#lines.perWorker) },
      parse: { queueSize: this.#parse?.queueSize ?? 0, utilization: this.#parse?.utilization ?? 0 },
    };
  }

  #build(kind: 'inference' | 'parse', options: ConstructorParameters<typeof Piscina>[0]): Piscina {
    const pool = new Piscina({ filename: this.#workerFile, execArgv, minThreads: 1, idleTimeout: 60_000, ...options });
    pool.on('message', (message: unknown) => {
      const line = (message as Partial<InferLineOffer> | undefined)?.inferenceLine;
      if (line) this.#lines.take(line);
    });
    // Without a listener a worker error crashes the process; a worker that fails to start leaves
    // a pool that never spawns again, so it is rebuilt after a pause.
    pool.on('error', (error: unknown) => {
      this.#logger.error({ event: 'pool_error', pool: kind, err: error }, `${kind} worker pool error: ${(error as Error)?.message}`);
      if (pool.threads.length === 0) {
        if (kind === 'inference') this.#lines.failWaiting(`no inference worker could start: ${(error as Error)?.message}`);
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

  /** Runs one upstream call on an inference worker; resolves once it ended (a stream's messages went to `onMessage` first). */
  async infer(call: InferenceCall): Promise<InferResult> {
    if (this.#closed) return { ok: false, error: { code: 'ERR_WORKER', message: 'the worker pools are closed', countsAsFailure: true, aborted: false } };
    const { deadlineMs, signals, onMessage, onControl, ...task } = call;
    const lines = this.#lines;
    const running = lines.call(task, onMessage);
    const cancel = () => lines.control(running, { type: 'abort' });
    onControl?.({ pause: () => lines.control(running, { type: 'pause' }), resume: () => lines.control(running, { type: 'resume' }), feedParser: (port) => lines.control(running, port ? { type: 'parse', port } : { type: 'parse' }) });
    for (const signal of signals) signal.addEventListener('abort', cancel, { once: true });
    if (signals.some((signal) => signal.aborted)) cancel();
    try {
      const result = await within(running.result, deadlineMs, undefined);
      if (result) return result;
      cancel();
      return { ok: false, error: { code: 'ERR_DEADLINE', message: `no complete answer within ${deadlineMs} ms`, countsAsFailure: true, aborted: false } };
    } finally {
      for (const signal of signals) signal.removeEventListener('abort', cancel);
    }
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
    this.#lines.failWaiting('the worker pools are closed');
    await Promise.allSettled([this.#inference.destroy(), this.#parse?.destroy()]);
  }
}
