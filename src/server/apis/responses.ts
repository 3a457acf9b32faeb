import type { IncomingMessage, ServerResponse } from 'node:http';
import { ResponsesStreamFraming, ResponsesWholeFraming } from '../../answer/index.js';
import { describeIssue, sanitizeRequest } from '../../openai/index.js';
import { conversationOf, inputItems, ResponseShape, responsesRequest, toChatRequest, type ResponseStore } from '../../responses/index.js';
import { sendError, sendJson } from '../responses.js';
import type { Api } from './api.js';

/**
 * `POST /v1/responses`: OpenAI's Responses API (Codex's only wire) on the shared request path.
 * Stateless unless asked: a response sent with `store` not false is kept in `store`, and a
 * request naming it as `previous_response_id` continues its conversation. Errors are OpenAI's.
 */
export function responsesApi(store: ResponseStore): Api {
  return {
    name: 'openai_responses',
    sendError,
    read(raw, limits) {
      const parsed = responsesRequest.safeParse(raw);
      if (!parsed.success) return { invalid: describeIssue(parsed.error) };
      const request = parsed.data;
      const previousId = request.previous_response_id;
      const previous = previousId != null ? store.get(previousId) : undefined;
      if (previousId != null && !previous) return { invalid: { message: unknownResponse(store, previousId), param: 'previous_response_id', code: 'not_found' } };
      const conversation = [...(previous?.conversation ?? []), ...conversationOf(request)];
      const chat = toChatRequest(request, conversation);
      const upstream = sanitizeRequest(chat, limits);
      const keep = (response: Record<string, unknown>) => {
        if (request.store === false || !store.enabled) return;
        // The output, read back as input items, is what a next turn continues from.
        const output = inputItems.safeParse(response.output);
        if (output.success) store.put(response.id as string, { response, conversation: [...conversation, ...output.data] });
      };
      const shape = new ResponseShape(request, keep);
      return {
        model: request.model,
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
}

const unknownResponse = (store: ResponseStore, id: string) =>
  store.enabled
    ? `no response "${id.slice(0, 80)}" is kept here: it was never stored (store: false), or was dropped (responses.store keeps ${store.limits.maxEntries}, for ${store.limits.ttlMs / 60_000} min) or deleted; send the whole conversation in "input"`
    : `no response "${id.slice(0, 80)}" is kept here: this mlx-guard keeps none (responses.store is 0); send the whole conversation in "input"`;

/** `GET` and `DELETE /v1/responses/{id}`: a kept response, or a 404 that says why it may be gone. */
export function storedResponseRoutes(store: ResponseStore) {
  const idOf = (req: IncomingMessage) => decodeURIComponent((req.url ?? '').split('?')[0]!.slice('/v1/responses/'.length));
  return {
    GET: (req: IncomingMessage, res: ServerResponse) => {
      const id = idOf(req);
      const kept = store.get(id);
      if (!kept) return sendError(res, 'not_found', unknownResponse(store, id));
      sendJson(res, 200, kept.response);
    },
    DELETE: (req: IncomingMessage, res: ServerResponse) => {
      const id = idOf(req);
      if (!store.delete(id)) return sendError(res, 'not_found', unknownResponse(store, id));
      sendJson(res, 200, { id, object: 'response.deleted', deleted: true });
    },
  };
}
