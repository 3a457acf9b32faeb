import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { Logger } from '../observability/logger.js';
import type { ParseOptions, ParseResult } from '../tools/index.js';
import type { InferMessage, InferResult, InferTask } from './messages.js';

// From src (tests, tsx) the worker is TypeScript and needs tsx to load on Node 20; from dist it is JS.
const fromSource = import.meta.url.endsWith('.ts');
const workerFile = new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url).href;
const execArgv = fromSource ? ['--import', 'tsx'] : [];

export class PoolUnavailableError extends Error {
  override name = 'PoolUnavailableError';
}

/** The worker's task (the port is made here), plus what the calling thread keeps. */
export interface InferenceCall extends Omit<InferTask, 'port'> {
  /** Whole-request deadline, after which the call is cancelled and fails. */
  deadlineMs: number;
  signal: AbortSignal;
  onMessage(message: InferMessage): void;
}

/**
 * Two pools for two kinds of work. Inference tasks are long and I/O-bound: many share one worker,
 * whose event loop must keep running between them (atomics disabled), and each is cancelled by a
 * message on its port. Parse tasks are short and CPU-bound: one per worker, with a hard deadline
 * through an AbortSignal, so a runaway parse costs a worker, not the event loop.
 */
export class Pools {
  #inference: Piscina;
  #parse: Piscina;
  readonly #logger: Logger;

  readonly #workerFile: string;
  #closed = false;

  constructor(logger: Logger, options: { inferenceThreads?: number; parseThreads?: number; maxParseQueue?: number; workerFile?: string } = {}) {
    this.#logger = logger;
    this.#workerFile = options.workerFile ?? workerFile;
    this.#inference = this.#build('inference', { maxThreads: options.inferenceThreads ?? 1, concurrentTasksPerWorker: 64, atomics: 'disabled' });
    this.#parse = this.#build('parse', { maxThreads: options.parseThreads ?? 2, concurrentTasksPerWorker: 1, maxQueue: options.maxParseQueue ?? 64 });
  }

  get stats(): { inference: { queueSize: number; utilization: number }; parse: { queueSize: number; utilization: number } } {
    return {
      inference: { queueSize: this.#inference.queueSize, utilization: this.#inference.utilization },
      parse: { queueSize: this.#parse.queueSize, utilization: this.#parse.utilization },
    };
  }

  #build(kind: 'inference' | 'parse', options: ConstructorParameters<typeof Piscina>[0]): Piscina {
    const pool = new Piscina({ filename: this.#workerFile, execArgv, minThreads: 1, idleTimeout: 60_000, ...options });
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
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (message: InferMessage) => call.onMessage(message));
    const cancel = () => port1.postMessage({ type: 'abort' });
    call.signal.addEventListener('abort', cancel, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<InferResult>((resolve) => {
      timer = setTimeout(() => {
        cancel();
        resolve({ ok: false, error: { code: 'ERR_DEADLINE', message: `no complete answer within ${call.deadlineMs} ms`, countsAsFailure: true, aborted: false } });
      }, call.deadlineMs);
    });
    try {
      const { deadlineMs: _deadline, signal: _signal, onMessage: _onMessage, ...fields } = call;
      const task: InferTask = { ...fields, port: port2 };
      const run = this.#inference.run(task, { name: 'infer', transferList: [port2] }) as Promise<InferResult>;
      const result = await Promise.race([run.catch((error: unknown): InferResult => ({ ok: false, error: { code: 'ERR_WORKER', message: String((error as Error)?.message ?? error), countsAsFailure: true, aborted: false } })), deadline]);
      // A stream's messages posted before the task returned may still be in flight on the port.
      if (call.rewrite) await new Promise((resolve) => setImmediate(resolve));
      return result;
    } finally {
      clearTimeout(timer);
      call.signal.removeEventListener('abort', cancel);
      port1.close();
    }
  }

  /** Parses one response's tool calls in the parse pool, within `timeoutMs`. */
  async parseTools(text: string, options: ParseOptions, timeoutMs: number): Promise<ParseResult> {
    try {
      return (await this.#parse.run({ text, options }, { name: 'parseTools', signal: AbortSignal.timeout(timeoutMs) })) as ParseResult;
    } catch (error) {
      throw new PoolUnavailableError(`tool parsing failed: ${(error as Error)?.message ?? error}`, { cause: error });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([this.#inference.destroy(), this.#parse.destroy()]);
  }
}
