import type { ServerResponse } from 'node:http';
import type { ParsedContent, StreamChunk, StreamOptions, UpstreamRequest } from '../../openai/index.js';
import type { CompletionDependencies } from '../dependencies.js';
import type { PublicErrorCode } from '../errors.js';
import type { InferMessage, InferTask, TaskError } from '../../pool/messages.js';
import type { FlowControl } from '../../pool/pools.js';

/**
 * One API on the shared request path: how its requests are read and translated for the model
 * server, how its answers and errors are shaped. Admission, the breaker, the pools, tool parsing
 * and replays are the path's, the same for every API.
 */
export interface Api {
  /** Names the API in logs and metrics. */
  readonly name: string;
  readonly sendError: ErrorWriter;
  /** The body (JSON, within the bounds) as a request to send upstream, or what is wrong with it, by field. */
  read(raw: unknown, options: ReadOptions): ApiRequest | { invalid: { message: string; param: string | null } };
}

export interface ReadOptions {
  /** Whether a client's `model` may go to the model server (which then loads it); else the served model answers. */
  modelAllowed(name: string): boolean;
}

/** A request read by its API: what goes upstream, and the responder that answers the client. */
export interface ApiRequest {
  upstream: UpstreamRequest;
  /** Fields of the body that the model server does not read, dropped rather than refused. */
  dropped?: string[];
  /** The model server's route for it. */
  upstreamPath: '/v1/chat/completions' | '/v1/completions';
  responder(res: ServerResponse, deps: CompletionDependencies): Responder;
  /**
   * Whether the request fits the model's context, before it is sent: a refusal (400) to send, or
   * undefined. `countPromptTokens` asks the model server (undefined when it could not tell).
   */
  fits?(countPromptTokens: () => Promise<number | undefined>, deps: CompletionDependencies): Promise<string | undefined>;
}

/** Writes an error response in a protocol's shape (status and type from the public table). */
export type ErrorWriter = (res: ServerResponse, code: PublicErrorCode, message: string, options?: { param?: string | null; retryAfterSeconds?: number; headers?: Record<string, string>; status?: number }) => void;

/**
 * How one API frames a streamed answer. The worker shapes the upstream events (`shaping`); when
 * `framedByWorker`, it also frames them and this side only relays the text; otherwise the chunks
 * come here, their content parsed for tool calls when tools were declared, to be framed.
 */
export interface StreamFormat {
  readonly shaping: StreamOptions;
  readonly framedByWorker: boolean;
  /** SSE text that opens the stream (sent with the headers). */
  begin(): string;
  /** SSE text for text the worker shaped or framed (a comment, [DONE], framed chunks). */
  text(text: string): string;
  /** SSE text for a chunk, its content replaced by `parsed` when it was parsed. */
  chunk(chunk: StreamChunk, parsed: ParsedContent | undefined): string;
  /** SSE text that ends a stream whose answer completed. */
  end(): string;
  /** SSE text of an error once the stream has begun (the stream then ends). */
  error(code: PublicErrorCode, message: string): string;
  /** SSE text that keeps the connection open, with a note for whoever reads the raw stream. */
  note(text: string): string;
  /** Whether any of the answer's content went out (then the request cannot be replayed). */
  readonly hasContent: boolean;
  /** The answer ended with a finish reason (else the stream was cut). */
  readonly sawFinish: boolean;
  /** The finish reason said tool calls but none came: the server's parser dropped one. */
  readonly lostCall: boolean;
  /** The format for the next attempt at the same answer (a replay): what was begun stays begun. */
  again(): StreamFormat;
}

/** How one API shapes a whole answer and its errors. */
export interface WholeFormat {
  /** The client's answer from the model server's, its content replaced by `parsed` when it was parsed. */
  shape(body: Record<string, unknown>, parsed: ParsedContent | undefined): { body: Record<string, unknown>; lostCall: boolean };
}

/** Answers one client while its request runs, in its API's shape; attempts (replays) share it. */
export interface Responder {
  /** What the inference worker does with the answer: shape a stream (parsing elsewhere, or not at all), or aggregate it. */
  readonly task: Pick<InferTask, 'stream' | 'aggregate'>;
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
  /** Keeps the client's connection alive while the request waits (a comment, for a stream). */
  keepAlive(): void;
  /** Takes the attempt's flow control, to hold the model server back while the client reads slowly (streams). */
  flowControl(control: FlowControl): void;
  /** Releases what the responder holds, however the request ended. */
  release(): void;
}
