import type { ServerResponse } from 'node:http';
import type { PublicErrorCode, StreamFraming, WholeFraming } from '../../answer/index.js';
import type { RequestLimits, UpstreamRequest } from '../../openai/index.js';
import type { ToolDefinition } from '../../tools/index.js';
import type { CompletionDependencies } from '../dependencies.js';

/**
 * One API on the shared request path: how its requests are read and translated for the model
 * server, and the framing of its answers and errors. Admission, the breaker, the pools, the answer
 * pipeline (tool parsing and merging included) and replays are the path's, the same for every API.
 */
export interface Api {
  /** Names the API in logs and metrics. */
  readonly name: string;
  readonly sendError: ErrorWriter;
  /**
   * The body (JSON, within the bounds) as a request to send upstream, or what is wrong with it, by
   * field (400; 404 for what it names that does not exist), or the answer itself when it needs no
   * model call (Ollama's request to load the model, which is loaded while it serves).
   */
  read(raw: unknown, options: ReadOptions): ApiRequest | { invalid: { message: string; param: string | null; code?: 'not_found' } } | { reply: Record<string, unknown>; model: string };
}

/** What a request may ask of the model server (`sanitizeRequest` applies them). */
export type ReadOptions = Required<RequestLimits>;

/** A request read by its API: what goes upstream, and how its answer is to be parsed and framed. */
export interface ApiRequest {
  /** The model the request names (its `model` field, whatever the API): with `models.served`, it chooses the model server. */
  model: string | undefined;
  upstream: UpstreamRequest;
  /** Fields of the body that the model server does not read, dropped rather than refused. */
  dropped?: string[];
  /** The model server's route for it. */
  upstreamPath: '/v1/chat/completions' | '/v1/completions';
  answer: AnswerPlan;
  /**
   * Whether the request fits the model's context, before it is sent: a refusal (400) to send, or
   * undefined. `countPromptTokens` asks the model server (undefined when it could not tell).
   */
  fits?(countPromptTokens: () => Promise<number | undefined>, deps: CompletionDependencies): Promise<string | undefined>;
}

/** Writes an error response in a protocol's shape (status and type from the public table). */
export type ErrorWriter = (res: ServerResponse, code: PublicErrorCode, message: string, options?: { param?: string | null; retryAfterSeconds?: number; headers?: Record<string, string>; status?: number }) => void;

/** What the answer pipeline needs of an API for one request (see `answerPipeline`). */
export interface AnswerPlan {
  kind: 'chat' | 'text';
  /** Declared tools, whose calls are parsed out of the content (none: nothing is parsed). */
  tools: ToolDefinition[];
  /** Stop sequences mlx-guard applies itself (see `StopSequenceFilter`), apart from those the model server applies. */
  stopSequences?: string[];
  framing: { stream: StreamFraming } | { whole: WholeFraming };
}
