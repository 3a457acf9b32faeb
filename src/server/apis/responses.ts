import { ResponsesStreamFraming, ResponsesWholeFraming } from '../../answer/index.js';
import { describeIssue, sanitizeRequest } from '../../openai/index.js';
import { ResponseShape, responsesRequest, toChatRequest } from '../../responses/index.js';
import type { ToolDefinition } from '../../tools/index.js';
import { sendError } from '../responses.js';
import type { Api } from './api.js';

/**
 * `POST /v1/responses`: OpenAI's Responses API (Codex's only wire) on the shared request path,
 * stateless (Codex sends the whole history with `store: false`). Errors are OpenAI's.
 */
export const responsesApi: Api = {
  name: 'openai_responses',
  sendError,
  read(raw, limits) {
    const parsed = responsesRequest.safeParse(raw);
    if (!parsed.success) return { invalid: describeIssue(parsed.error) };
    const request = parsed.data;
    if (request.previous_response_id != null) {
      return { invalid: { message: `previous_response_id: mlx-guard keeps no responses yet; send the whole conversation in "input" (as Codex does with store: false)`, param: 'previous_response_id' } };
    }
    const upstream = sanitizeRequest(toChatRequest(request), limits);
    const chat = JSON.parse(upstream.body) as { tools?: ToolDefinition[] };
    const shape = new ResponseShape(request);
    return {
      upstream,
      upstreamPath: '/v1/chat/completions',
      answer: {
        kind: 'chat',
        tools: chat.tools ?? [],
        framing: request.stream === true ? { stream: new ResponsesStreamFraming(shape) } : { whole: new ResponsesWholeFraming(shape) },
      },
    };
  },
};
