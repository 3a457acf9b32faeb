import type { MessagePort } from 'node:worker_threads';
import type { SseEvent } from '../upstream/index.js';

/** An upstream call handed to an inference worker. */
export interface InferTask {
  url: string;
  body: string;
  upstreamStreams: boolean;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  /** For a non-streaming client: aggregate the stream here and post one finished body, not every event. */
  aggregate?: { kind: 'chat' | 'text'; model: string };
  port: MessagePort;
}

/** What an inference worker posts back while the call runs. */
export type InferMessage = { type: 'event'; event: SseEvent } | { type: 'json'; body: Record<string, unknown> };

/** An error as it crosses the thread boundary (classes do not survive structured cloning). */
export interface TaskError {
  code: string;
  message: string;
  status?: number;
  countsAsFailure: boolean;
  aborted: boolean;
}
