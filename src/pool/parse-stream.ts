import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { ParseStreamFeed, ParseStreamReply, ParseStreamRequest, ParseStreamStarted } from './messages.js';

/** The reply a request gets when the parse worker can no longer answer it: it overran a deadline, the worker went, or the stream was closed. */
export type ParseStreamLost = { ok: false; message: string; lost: 'deadline' | 'worker_lost' | 'closed' };

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
 *
 * The requests are sent from here, or, once its feed is taken, by whoever holds the feed (the
 * inference worker reading the answer): then `request` sends nothing and only waits for the reply,
 * which may come before it is asked for.
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
  /** The requests come on the feed, not from here. */
  #fed = false;
  /** The feed may still be taken: nothing was sent from here, and the task was not launched again. */
  #feedable = true;
  /** Replies to fed requests that came before `request` asked for them. */
  readonly #early: ParseStreamReply[] = [];

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
      if (!waiting) return void this.#early.push(reply);
      clearTimeout(waiting.timer);
      waiting.answer(reply);
    });
    // A task that ends normally has posted its last reply; one that fails (its worker terminated
    // for another stream's runaway parse, say) never will.
    run.catch((error: unknown) => {
      if (port !== this.#port) return;
      if (!this.#started && this.#relaunches-- > 0 && this.#lost === undefined) {
        port.close();
        // The feed went with the task: whatever was sent on it is sent again from here, and the rest too.
        this.#fed = this.#feedable = false;
        this.#run();
        for (const waiting of this.#waiting) this.#port.postMessage(waiting.request);
        return;
      }
      this.#fail('worker_lost', `the parse worker was lost: ${(error as Error)?.message ?? error}`);
    });
  }

  request(request: ParseStreamRequest, deadlineMs: number): Promise<ParseStreamReply | ParseStreamLost> {
    if (this.#lost !== undefined) return Promise.resolve({ ok: false, ...this.#lost });
    const early = this.#early.shift();
    if (early) return Promise.resolve(early);
    this.#feedable = false;
    return new Promise((answer) => {
      const waiting: Waiting = { request, answer, deadlineMs };
      this.#waiting.push(waiting);
      if (this.#started) this.#arm(waiting);
      if (!this.#fed) this.#port.postMessage(request);
    });
  }

  /**
   * A port on which another thread sends this stream's requests, in order, straight to the parse
   * worker (whose replies still come here, matched in the same order); undefined once a request
   * was sent from here or the task was launched again. The deadlines hold as before: each counts
   * from when `request` waits for its reply.
   */
  takeFeed(): MessagePort | undefined {
    if (!this.#feedable || this.#lost !== undefined) return undefined;
    this.#feedable = false;
    this.#fed = true;
    const { port1, port2 } = new MessageChannel();
    this.#port.postMessage({ type: 'feed', port: port2 } satisfies ParseStreamFeed, [port2]);
    return port1;
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

  /**
   * Ends this stream's task (the worker stops listening), whether or not it was ended. A request
   * still waiting is answered `closed` at once: its reply will not come, and its deadline must not
   * fire later and terminate a worker that other answers are parsed on.
   */
  close(): void {
    this.#fail('closed', 'the parse stream was closed');
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
