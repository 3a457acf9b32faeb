import type { MessagePort } from 'node:worker_threads';
import type { AnswerEvent, PortableFraming } from '../answer/index.js';
import type { ParseOptions, ToolCall } from '../tools/index.js';
import type { Marks } from '../observability/timeline.js';
import type { UpstreamErrorCode } from '../upstream/index.js';

/** An upstream call handed to an inference worker. */
export interface InferTask {
  url: string;
  /** The key the model server requires (`Serving.apiKey`), sent as a bearer token. */
  apiKey?: string;
  body: string;
  upstreamStreams: boolean;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  /** For a non-streaming client: aggregate the stream here and post one finished body, not every event. */
  aggregate?: { kind: 'chat' | 'text'; model: string };
  /**
   * For a streaming client: each event shaped here (its JSON parsed) and posted to the calling
   * thread, which parses, merges and frames it; or, with `framing` (nothing to parse), merged and
   * framed here as well, so that only the client's text crosses.
   */
  stream?: {
    kind: 'chat' | 'text';
    framing?: PortableFraming;
    /**
     * Tools were declared: the content's text of each batch (see `parseRuns`) also goes straight
     * to the answer's parse worker, on the port the calling thread hands over once the call is on
     * its way (`InferControlMessage` "parse"); held until then, and dropped if it hands none.
     */
    feedsParser?: boolean;
  };
  /** Stop sequences mlx-guard applies itself (see `StopSequenceFilter`); a match ends the answer and closes the upstream request. */
  stopSequences?: string[];
  /** The request asked for its timeline: the worker marks its phases (see `Timeline`). */
  timeline?: boolean;
}

/** What the calling thread sends a running inference call (on its worker's line). */
export type InferControlMessage = { type: 'abort' } | { type: 'pause' } | { type: 'resume' } | { type: 'parse'; port?: MessagePort };

/** What an inference worker posts back while a call runs; every message is also proof of progress. */
export type InferMessage =
  /** (`framing`) The client's text; `hasContent` once any of the answer is in it (then it cannot be replayed). */
  | { type: 'framed'; text: string; hasContent: boolean }
  /** (no `framing`) The events that arrived together, in order, for the calling thread's pipeline. */
  | { type: 'events'; events: AnswerEvent[] }
  /** (`framing`) What the answer showed, once the stream ended (see `AnswerMerge`). */
  | { type: 'answer_end'; sawFinish: boolean; lostCall: boolean; completionTokens: number }
  /** The model server is making progress (headers, keepalives, tokens) while nothing else was posted. */
  | { type: 'progress' }
  /** (`timeline`) The worker's phases so far, posted before the first of the answer. */
  | { type: 'timeline'; marks: Marks };

/**
 * An inference worker's line to the calling thread: one MessagePort for the worker's lifetime,
 * offered on the worker's `parentPort` as it starts (Piscina hands such messages to the pool's
 * "message" event). Every call goes over it, both ways, each message tagged with its call's id:
 * the call, its control, its messages and, last, its result. One port keeps their order, and a
 * call sent this way costs its caller a fraction of a Piscina task's dispatch (`npm run
 * bench:hop` measures both on the machine at hand); Piscina keeps the threads (their start,
 * replacement after a crash, and end).
 */
export interface InferLineOffer {
  inferenceLine: MessagePort;
}
/** On the line, calling thread to worker: a call, or control for one that runs. */
export type InferLineIn = { id: number; task: InferTask } | { id: number; control: InferControlMessage };
/** On the line, worker to calling thread: a call's message, or its result (its last word). */
export type InferLineOut = { id: number; message: InferMessage } | { id: number; result: InferResult };

/**
 * How an inference task ended. A whole answer comes back in the result itself: one message to
 * the calling thread instead of two.
 */
export type InferResult = { ok: true; body?: Record<string, unknown>; marks?: Marks } | { ok: false; error: TaskError };

/**
 * Failures of mlx-guard's own around an upstream call: the worker died (`ERR_WORKER`), the
 * request's deadline passed (`ERR_DEADLINE`), the caller cancelled it (`ABORTED`), or the worker
 * failed unexpectedly (`ERR_INTERNAL`).
 */
export type InternalErrorCode = 'ERR_WORKER' | 'ERR_DEADLINE' | 'ABORTED' | 'ERR_INTERNAL';
export type TaskErrorCode = UpstreamErrorCode | InternalErrorCode;

/** An error as it crosses the thread boundary (classes do not survive structured cloning). */
export interface TaskError {
  code: TaskErrorCode;
  message: string;
  status?: number;
  countsAsFailure: boolean;
  aborted: boolean;
}

/** One streamed answer's tool parsing, handed to a parse worker; it lives until `end` or its budget is spent. */
export interface ParseStreamTask {
  options: ParseOptions;
  /** Parse time this answer may take in all; past it the worker stops parsing it. */
  budgetMs: number;
  port: MessagePort;
}

/** What the calling thread sends a parse stream: more of the answer's text; with `end`, the last of it (then the task ends). */
export type ParseStreamRequest = { text: string; end?: boolean };

/** Sent on a parse stream's port before any request: the requests come on `port` instead (the inference worker feeds the parser). */
export type ParseStreamFeed = { type: 'feed'; port: MessagePort };

/** The parse worker's first message on the port, once the task runs: deadlines count from it, and a runaway parse terminates this thread. */
export type ParseStreamStarted = { type: 'started'; threadId: number };

/**
 * The parse worker's answer to each request, in order. `resumeAt` is where in the raw text the
 * answer goes on as plain text if parsing stops after this reply (see `StreamingToolCallParser.resumeAt`).
 */
export type ParseStreamReply =
  | {
      ok: true;
      content: string;
      calls: ToolCall[];
      resumeAt: number;
      overBudget: boolean;
      /** (the last reply) The answer held a call that did not parse, which passed through as text: the parser's reason. */
      unparsed?: string;
    }
  /** The parser threw: its state is in doubt, so the caller goes on from the last reply's `resumeAt`. */
  | { ok: false; message: string };
