import { randomBytes } from 'node:crypto';
import { anthropicError, AnthropicStreamFraming, AnthropicWholeFraming, countTokensFraming } from '../../answer/index.js';
import { countTokensRequest, messagesRequest, toChatRequest, type MessagesRequest } from '../../anthropic/index.js';
import { describeIssue, sanitizeRequest } from '../../openai/index.js';
import type { ToolDefinition } from '../../tools/index.js';
import { sendErrorBody } from '../responses.js';
import type { Api, ErrorWriter } from './api.js';

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
  read(raw, limits) {
    const parsed = messagesRequest.safeParse(raw);
    if (!parsed.success) return { invalid: describeIssue(parsed.error) };
    const request = parsed.data;
    const upstream = sanitizeRequest(toChatRequest(request, { stream: request.stream === true, maxTokens: request.max_tokens }), limits);
    const tools = parserTools(request);
    const stops = request.stop_sequences;
    return {
      model: request.model,
      upstream,
      upstreamPath: '/v1/chat/completions',
      fits: (count, deps) => fitsContext(upstream.body.length, upstream.maxTokensCapped?.cap ?? request.max_tokens, deps.config.anthropic.contextTokens, count),
      answer: {
        kind: 'chat',
        tools,
        ...(stops ? { stopSequences: stops } : {}),
        framing: request.stream ? { stream: new AnthropicStreamFraming(request.model) } : { whole: new AnthropicWholeFraming(request.model) },
      },
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
  read(raw, limits) {
    const parsed = countTokensRequest.safeParse(raw);
    if (!parsed.success) return { invalid: describeIssue(parsed.error) };
    const upstream = sanitizeRequest(toChatRequest(parsed.data, { stream: false, maxTokens: 1 }), limits);
    return {
      model: parsed.data.model,
      upstream,
      upstreamPath: '/v1/chat/completions',
      answer: { kind: 'chat', tools: [], framing: { whole: countTokensFraming } },
    };
  },
};
