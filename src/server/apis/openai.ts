import { OpenAiStreamFraming, OpenAiWholeFraming } from '../../answer/index.js';
import { chatRequest, completionRequest, describeIssue, sanitizeRequest, unreadFields } from '../../openai/index.js';
import type { ToolDefinition } from '../../tools/index.js';
import { sendError } from '../responses.js';
import type { Api } from './api.js';

/** OpenAI's chat completions (`/v1/chat/completions`) or text completions (`/v1/completions`), as mlx_lm.server serves them. */
export function openAiApi(kind: 'chat' | 'text'): Api {
  const schema = kind === 'chat' ? chatRequest : completionRequest;
  return {
    name: kind === 'chat' ? 'openai_chat' : 'openai_text',
    sendError,
    read(raw, limits) {
      const parsed = schema.safeParse(raw);
      if (!parsed.success) return { invalid: describeIssue(parsed.error) };
      const upstream = sanitizeRequest(parsed.data, limits);
      const tools = (kind === 'chat' ? (parsed.data as { tools?: ToolDefinition[] | null }).tools : undefined) ?? [];
      const model = upstream.clientModel;
      return {
        model,
        upstream,
        dropped: unreadFields(schema, raw),
        upstreamPath: kind === 'chat' ? '/v1/chat/completions' : '/v1/completions',
        answer: {
          kind,
          tools,
          framing: upstream.clientStreams
            ? { stream: new OpenAiStreamFraming({ kind, wantsUsage: upstream.clientWantsUsage, ...(model !== undefined ? { model } : {}) }) }
            : { whole: new OpenAiWholeFraming(model) },
        },
      };
    },
  };
}
