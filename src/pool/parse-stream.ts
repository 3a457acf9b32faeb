import type { MessagePort } from 'node:worker_threads';
import type { ParseStreamReply, ParseStreamRequest, ParseStreamStarted } from './messages.js';

/** The reply a request gets when the parse worker can no longer answer it: it overran a deadline, or the worker went. */
export type ParseStreamLost = { ok: false; message: string; lost: 'deadline' | 'worker_lost' };

/** A parse task handed to the pool: the calling thread's end of its port, and how the task ends. */
export interface ParseTaskLaunch {
  port: MessagePort;
  run: Promise<void>;
}

interface Waiting {
  request: ParseStreamRequest;
  answer: (reply: ParseStreamReply | ParseStreamLost) => void;
  deadlineMs: number;
  /** Armed once the task started. */
  timer?: NodeJS.Timeout;
}

/** How long a parse task may take to start (a worker booting, on a loaded machine): not parse time. */
const START_WITHIN_MS = 10_000;

/**
 * The calling thread's end of one streamed answer's parser in a parse worker. Requests are
 * answered in order. One that gets no reply within its deadline, counted from when the task
 * started in its worker, terminates that worker (a parse that runs away cannot be interrupted
 * otherwise); every request still waiting on that worker, this stream's or another's, is then
 * answered `lost`.
 */
export class ParseStream {
  readonly #launch: () => ParseTaskLaunch;
  #port!: MessagePort;
  /** A task whose worker went before it started (one being terminated as it was handed the task) is launched again, once. */
  #relaunches = 1;
  /** Terminates the worker thread this stream's task runs on. */
  readonly #terminate: (threadId: number) => void;
  #threadId: number | undefined;
  readonly #waiting: Waiting[] = [];
  #started = false;
  #startTimer: NodeJS.Timeout;
  #lost: Omit<ParseStreamLost, 'ok'> | undefined;

  constructor(launch: () => ParseTaskLaunch, terminate: (threadId: number) => void) {
    this.#launch = launch;
    this.#terminate = terminate;
    this.#startTimer = setTimeout(() => this.#fail('deadline', `the parse task did not start within ${START_WITHIN_MS} ms`), START_WITHIN_MS);
    this.#run();
  }

  #run(): void {
    const { port, run } = this.#launch();
    this.#port = port;
    port.on('message', (reply: ParseStreamReply | ParseStreamStarted) => {
      if ('type' in reply) return this.#onStarted(reply.threadId);
      const waiting = this.#waiting.shift();
      clearTimeout(waiting?.timer);
      waiting?.answer(reply);
    });
    // A task that ends normally has posted its last reply; one that fails (its worker terminated
    // for another stream's runaway parse, say) never will.
    run.catch((error: unknown) => {
      if (port !== this.#port) return;
      if (!this.#started && this.#relaunches-- > 0 && this.#lost === undefined) {
        port.close();
        this.#run();
        for (const waiting of this.#waiting) this.#port.postMessage(waiting.request);
        return;
      }
      this.#fail('worker_lost', `the parse worker was lost: ${(error as Error)?.message ?? error}`);
    });
  }

  request(request: ParseStreamRequest, deadlineMs: number): Promise<ParseStreamReply | ParseStreamLost> {
    if (this.#lost !== undefined) return Promise.resolve({ ok: false, ...this.#lost });
    return new Promise((answer) => {
      const waiting: Waiting = { request, answer, deadlineMs };
      this.#waiting.push(waiting);
      if (this.#started) this.#arm(waiting);
      this.#port.postMessage(request);
    });
  }

  #onStarted(threadId: number): void {
    this.#started = true;
    this.#threadId = threadId;
    clearTimeout(this.#startTimer);
    for (const waiting of this.#waiting) this.#arm(waiting);
  }

  #arm(waiting: Waiting): void {
    waiting.timer = setTimeout(() => this.#fail('deadline', `no parse result within ${waiting.deadlineMs} ms`), waiting.deadlineMs);
  }

  /** Ends this stream's task (the worker stops listening), whether or not it was ended. */
  close(): void {
    clearTimeout(this.#startTimer);
    this.#port.close();
  }

  /** Answers every waiting request; a deadline overrun also terminates the worker. */
  #fail(lost: ParseStreamLost['lost'], message: string): void {
    clearTimeout(this.#startTimer);
    this.#lost ??= { lost, message };
    for (const waiting of this.#waiting.splice(0)) {
      clearTimeout(waiting.timer);
      waiting.answer({ ok: false, ...this.#lost });
    }
    if (lost === 'deadline' && this.#threadId !== undefined) this.#terminate(this.#threadId);
  }
}
