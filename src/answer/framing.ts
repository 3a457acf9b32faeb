import type { StreamChunk } from '../openai/answers.js';
import type { PublicErrorCode } from './errors.js';

/**
 * How one API writes a streamed answer for its clients: the last step of the pipeline (shape →
 * parse → merge → frame). Each method returns the text to send ('' for nothing); a framing keeps
 * only what its protocol needs to remember (an open block, a message id).
 */
export interface StreamFraming {
  /** The stream's media type (`text/event-stream` when not given). */
  readonly contentType?: string;
  /** Text that opens the stream, sent with the headers. */
  begin(): string;
  /** One chunk of the answer, its tool calls merged (see `AnswerMerge`). */
  chunk(chunk: StreamChunk): string;
  /** A comment of the model server's (its prefill keepalive): a client must not give up meanwhile. */
  comment(text: string): string;
  /** The model server's end of stream (`[DONE]`). */
  done(): string;
  /** Text that ends a stream whose answer completed. */
  end(): string;
  /** An error once the stream has begun (the stream then ends). */
  error(code: PublicErrorCode, message: string): string;
  /** Keeps the connection open, with a note for whoever reads the raw stream. */
  note(text: string): string;
  /** Whether any of the answer's content went out (then the request cannot be replayed). */
  readonly hasContent: boolean;
  /** The framing for the next attempt at the same answer (a replay): what was begun stays begun. */
  again(): StreamFraming;
  /**
   * Plain data that builds the same framing on another thread (see `framingFrom`), when it can
   * run there: an answer with nothing to parse is then framed where it is read.
   */
  readonly portable?: PortableFraming;
}

/** How one API writes a whole answer: the client's body from the merged completion. */
export interface WholeFraming {
  body(completion: Record<string, unknown>): Record<string, unknown>;
}

/** A framing as plain data, to cross threads. */
export type PortableFraming = { api: 'openai'; kind: 'chat' | 'text'; model?: string; wantsUsage: boolean };
