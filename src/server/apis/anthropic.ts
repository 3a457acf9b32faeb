import { randomBytes } from 'node:crypto';
import { AnthropicStream, countTokensRequest, messagesRequest, toChatRequest, toMessage, type MessagesRequest } from '../../anthropic/index.js';
import { describeIssue, sanitizeRequest, shapeWhole, type ParsedContent, type StreamChunk, type StreamOptions } from '../../openai/index.js';
import type { ToolDefinition } from '../../tools/index.js';
import { PUBLIC_ERRORS, type PublicErrorCode } from '../errors.js';
import { StreamResponder, WholeResponder } from '../responders.js';
import { sendErrorBody } from '../responses.js';
import type { Api, ErrorWriter, StreamFormat, WholeFormat } from './api.js';

/**
 * A public error code (errors.ts) as Anthropic's status and type, by rule rather than a second
 * table. Everything that means "not now, retry" (503) is 529 `overloaded_error`, which the SDK and
 * Claude Code retry (with `Retry-After`); Anthropic has no 422, so a poison request is a 400.
 */
function anthropicError(code: PublicErrorCode): { status: number | 'upstream'; type: string } {
  const { status } = PUBLIC_ERRORS[code];
  if (typeof status !== 'number') return { status: 'upstream', type: 'invalid_request_error' };
  if (status === 503) return { status: 529, type: 'overloaded_error' };
  if (status === 504) return { status, type: 'timeout_error' };
  if (status >= 500) return { status: 500, type: 'api_error' };
  if (status === 413) return { status, type: 'request_too_large' };
  const type = ANTHROPIC_CLIENT_ERRORS[status] ?? 'invalid_request_error';
  return { status: status === 422 ? 400 : status, type };
}

const ANTHROPIC_CLIENT_ERRORS: Partial<Record<number, string>> = { 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error' };

/** Anthropic's error body, `{"type":"error","error":{type, message},"request_id"}`, with its status and `request-id`. */
export const sendAnthropicError: ErrorWriter = (res, code, message, options = {}) => {
  const { status, type } = anthropicError(code);
  const requestId = `req_${randomBytes(12).toString('base64url')}`;
  const body = { type: 'error', error: { type, message }, request_id: requestId };
  sendErrorBody(res, status === 'upstream' ? (options.status ?? 400) : status, body, { ...options, headers: { 'request-id': requestId, ...options.headers } });
};

/** The declared tools as the tool-call parser takes them. */
const parserTools = (request: MessagesRequest): ToolDefinition[] =>
  request.tool_choice?.type === 'none' ? [] : (request.tools ?? []).map((t) => ({ type: 'function', function: { name: t.name, ...(t.input_schema ? { parameters: t.input_schema } : {}) } }));

/** `POST /v1/messages`: the Messages API on the shared request path. */
export const anthropicMessagesApi: Api = {
  name: 'anthropic_messages',
  sendError: sendAnthropicError,
  read(raw, { modelAllowed }) {
    const parsed = messagesRequest.safeParse(raw);
    if (!parsed.success) return { invalid: describeIssue(parsed.error) };
    const request = parsed.data;
    const upstream = sanitizeRequest(toChatRequest(request, { stream: request.stream === true, maxTokens: request.max_tokens }), modelAllowed);
    const tools = parserTools(request);
    const stops = request.stop_sequences;
    return {
      upstream,
      upstreamPath: '/v1/chat/completions',
      fits: (count, deps) => fitsContext(upstream.body.length, request.max_tokens, deps.config.anthropic.contextTokens, count),
      responder: (res, deps) =>
        request.stream
          ? new StreamResponder(res, new AnthropicStreamFormat(request.model), tools, sendAnthropicError, deps, stops)
          : new WholeResponder(res, new AnthropicWholeFormat(request.model), 'chat', tools, sendAnthropicError, deps, stops),
    };
  },
};

/** Below this share of the window by a generous estimate, a prompt is not counted: it fits. */
const COUNT_FROM_SHARE = 0.5;
/** Characters per token, low, so that text with few characters to a token (code, CJK) is still counted in time. */
const CHARS_PER_TOKEN = 2;

/**
 * A request that would overflow the model's context is refused in the words Claude Code acts on
 * (it compacts the conversation, or retries with a smaller `max_tokens`), not sent to a model that
 * would silently lose its beginning. The prompt is counted by the model server only when it may
 * be near the limit.
 */
async function fitsContext(bodyChars: number, maxTokens: number, window: number | undefined, count: () => Promise<number | undefined>): Promise<string | undefined> {
  if (window === undefined || bodyChars / CHARS_PER_TOKEN + maxTokens < window * COUNT_FROM_SHARE) return undefined;
  const prompt = await count();
  if (prompt === undefined) return undefined;
  if (prompt > window) return `prompt is too long: ${prompt} tokens > ${window} maximum`;
  if (prompt + maxTokens > window) return `input length and \`max_tokens\` exceed context limit: ${prompt} + ${maxTokens} > ${window}, decrease input length or \`max_tokens\` and try again`;
  return undefined;
}

/**
 * `POST /v1/messages/count_tokens`: the prompt sent to the model server for one token, whose
 * usage is the exact count of its prompt tokens (chat template included), from the model's own
 * tokenizer; mlx_lm.server has no tokenize route. Its prompt cache then holds the prefix, so the
 * request that follows does not pay the prefill again.
 */
export const anthropicCountTokensApi: Api = {
  name: 'anthropic_count_tokens',
  sendError: sendAnthropicError,
  read(raw, { modelAllowed }) {
    const parsed = countTokensRequest.safeParse(raw);
    if (!parsed.success) return { invalid: describeIssue(parsed.error) };
    const upstream = sanitizeRequest(toChatRequest(parsed.data, { stream: false, maxTokens: 1 }), modelAllowed);
    return {
      upstream,
      upstreamPath: '/v1/chat/completions',
      responder: (res, deps) => new WholeResponder(res, countFormat, 'chat', [], sendAnthropicError, deps),
    };
  },
};

const countFormat: WholeFormat = {
  shape(body) {
    const usage = (body.usage ?? {}) as { prompt_tokens?: number };
    return { body: { input_tokens: usage.prompt_tokens ?? 0 }, lostCall: false };
  },
};

/** The Messages API's event stream (see `AnthropicStream`), from every chunk the worker shaped. */
class AnthropicStreamFormat implements StreamFormat {
  readonly shaping: StreamOptions = { kind: 'chat', wantsUsage: true, structured: true };
  readonly framedByWorker = false;
  readonly lostCall = false;
  readonly #stream: AnthropicStream;

  constructor(
    readonly model: string,
    readonly begun = false,
  ) {
    this.#stream = new AnthropicStream(model);
  }

  begin(): string {
    return this.begun ? '' : this.#stream.start();
  }

  text(text: string): string {
    // Only comments ([DONE] ends nothing here: `end` does): the model server's prefill keepalives
    // become pings, so that a client does not give up on a long prompt.
    return text.startsWith(':') ? this.#stream.ping() : '';
  }

  chunk(chunk: StreamChunk, parsed: ParsedContent | undefined): string {
    return this.#stream.chunk(chunk, parsed);
  }

  end(): string {
    return this.#stream.end();
  }

  error(code: PublicErrorCode, message: string): string {
    return this.#stream.error(anthropicError(code).type, message);
  }

  note(text: string): string {
    return `: mlx-guard: ${text}\n\n${this.#stream.ping()}`;
  }

  get hasContent(): boolean {
    return this.#stream.hasContent;
  }

  get sawFinish(): boolean {
    return this.#stream.sawFinish;
  }

  again(): StreamFormat {
    return new AnthropicStreamFormat(this.model, true);
  }
}

class AnthropicWholeFormat implements WholeFormat {
  constructor(readonly model: string) {}

  shape(body: Record<string, unknown>, parsed: ParsedContent | undefined): { body: Record<string, unknown>; lostCall: boolean } {
    const merged = shapeWhole(body, { kind: 'chat' }, parsed);
    return { body: toMessage(merged.body, this.model), lostCall: merged.lostCall };
  }
}

