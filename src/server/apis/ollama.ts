import { OllamaStreamFraming, OllamaWholeFraming } from '../../answer/index.js';
import { answerEnd, answerLine, AnswerClock, chatRequest, chatToOpenAi, generateRequest, generateToOpenAi, type OllamaRoute, type Translated } from '../../ollama/index.js';
import { describeIssue, sanitizeRequest, unreadFields } from '../../openai/index.js';
import type { ToolDefinition } from '../../tools/index.js';
import { publicStatus, sendErrorBody } from '../responses.js';
import type { Api, ApiRequest, ErrorWriter, ReadOptions } from './api.js';

/** Ollama's error body, `{"error": "…"}`, with the status of the public table (errors.ts). */
export const sendOllamaError: ErrorWriter = (res, code, message, options = {}) => sendErrorBody(res, publicStatus(code, options.status), { error: message }, options);

/**
 * A chat without messages, or a generate without a prompt, is Ollama's way to load a model: the
 * one model is loaded already (a 503 says when it is not), so it is answered at once.
 */
const loaded = (route: OllamaRoute, model: string) => ({ ...answerLine(route, model, { content: '' }), ...answerEnd(undefined, undefined, new AnswerClock()), done_reason: 'load' });

/** The request for the model server, and how its answer is framed: as lines when streamed, else one object. */
function request(route: OllamaRoute, model: string, stream: boolean, translated: Translated, dropped: string[], limits: ReadOptions, options: { kind: 'chat' | 'text'; tools: ToolDefinition[] }): ApiRequest {
  const upstream = sanitizeRequest({ ...translated.fields, model }, limits);
  return {
    model,
    upstream,
    dropped: [...dropped, ...translated.dropped],
    upstreamPath: options.kind === 'chat' ? '/v1/chat/completions' : '/v1/completions',
    answer: {
      kind: options.kind,
      tools: options.tools,
      framing: stream ? { stream: new OllamaStreamFraming(route, model) } : { whole: new OllamaWholeFraming(route, model) },
    },
  };
}

/** `POST /api/chat`: Ollama's chat on the shared request path; streamed unless `stream` is false, as in Ollama. */
export const ollamaChatApi: Api = {
  name: 'ollama_chat',
  sendError: sendOllamaError,
  read(raw, limits) {
    const parsed = chatRequest.safeParse(raw);
    if (!parsed.success) return { invalid: describeIssue(parsed.error) };
    const chat = parsed.data;
    if (!chat.messages?.length) return { reply: loaded('chat', chat.model), model: chat.model };
    const tools = (chat.tools ?? []).map((t): ToolDefinition => ({ type: 'function', function: t.function }));
    return request('chat', chat.model, chat.stream !== false, chatToOpenAi(chat, limits.maxTokens), unreadFields(chatRequest, raw), limits, { kind: 'chat', tools });
  },
};

/** `POST /api/generate`: a prompt, through the model's chat template, or as it is with `raw`. */
export const ollamaGenerateApi: Api = {
  name: 'ollama_generate',
  sendError: sendOllamaError,
  read(raw, limits) {
    const parsed = generateRequest.safeParse(raw);
    if (!parsed.success) return { invalid: describeIssue(parsed.error) };
    const generate = parsed.data;
    if (generate.suffix) {
      return { invalid: { message: 'suffix: fill-in-the-middle is not served: mlx_lm.server completes a prompt only; send the code before the cursor as the prompt', param: 'suffix' } };
    }
    if (!generate.prompt) return { reply: loaded('generate', generate.model), model: generate.model };
    const translated = generateToOpenAi(generate, limits.maxTokens);
    return request('generate', generate.model, generate.stream !== false, translated, unreadFields(generateRequest, raw), limits, { kind: translated.raw ? 'text' : 'chat', tools: [] });
  },
};
