import type { MessagePort } from 'node:worker_threads';
import type { RewriteOptions } from './stream-rewriter.js';

/** An upstream call handed to an inference worker. */
export interface InferTask {
  url: string;
  body: string;
  upstreamStreams: boolean;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  /** For a non-streaming client: aggregate the stream here and post one finished body, not every event. */
  aggregate?: { kind: 'chat' | 'text'; model: string };
  /** For a streaming client: rewrite (and parse) each event here and post the client's SSE text. */
  rewrite?: RewriteOptions;
  port: MessagePort;
}

/** What an inference worker posts back while a call runs; every message is also proof of progress. */
export type InferMessage =
  /** SSE text ready for the client. */
  | { type: 'sse'; text: string }
  /** What the rewriter noticed, once the stream ended. */
  | { type: 'stream_end'; sawFinish: boolean; lostCall: boolean; parseError?: string }
  /** The model server is making progress (headers, keepalives, tokens) while nothing else was posted. */
  | { type: 'progress' };

/**
 * How an inference task ended. A whole answer comes back in the result itself: one message to
 * the calling thread instead of two.
 */
export type InferResult = { ok: true; body?: Record<string, unknown> } | { ok: false; error: TaskError };

/** An error as it crosses the thread boundary (classes do not survive structured cloning). */
export interface TaskError {
  code: string;
  message: string;
  status?: number;
  countsAsFailure: boolean;
  aborted: boolean;
}
