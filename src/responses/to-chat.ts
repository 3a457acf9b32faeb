import type { JsonSchema, ToolDefinition } from '../tools/index.js';
import type { InputItem, LeafTool, ResponsesRequest } from './request-schema.js';
import { chatName, offeredTools } from './tool-names.js';

type Content = Extract<InputItem, { type?: 'message' }>['content'];
type ChatMessage = Record<string, unknown> & { role: string };

/** The text of a message's content (parts joined as they came; images were refused by the schema). */
const textOf = (content: Content): string =>
  typeof content === 'string'
    ? content
    : content
        .filter((part) => part !== undefined)
        .map((part) => part.text)
        .join('');

/** A request's own input as items (text is one user message). */
export const conversationOf = (request: ResponsesRequest): InputItem[] => (typeof request.input === 'string' ? [{ role: 'user', content: request.input }] : request.input.filter((i) => i !== undefined));

/** The one parameter a freeform tool's input travels in, for a model that only knows JSON arguments. */
export const CUSTOM_TOOL_INPUT = 'input';

/**
 * A Responses request as one chat-completions request for the model server:
 * - `instructions` and every `system` or `developer` message go first, as one system message:
 *   chat templates know no `developer` role, and many (Qwen's) refuse a system message anywhere
 *   but first. Codex sends its permissions and environment as developer messages mid-input;
 * - `function_call` items become the assistant's `tool_calls` (consecutive ones, and the text
 *   before them, one assistant message), `function_call_output` items `tool` messages;
 *   `reasoning` items go back as the `reasoning` of the assistant message that follows them;
 * - a freeform (`custom`) tool is offered as a function taking its raw input as one string
 *   (`CUSTOM_TOOL_INPUT`); its calls and outputs in the history travel the same way; a
 *   namespace's tools are offered as `namespace.name` (see `chatName`);
 * - `items` is the whole conversation: the request's input after what a `previous_response_id`
 *   continues;
 * - `model` is not sent (the caller echoes it back); `max_output_tokens` is `max_tokens`;
 *   `text.format` is `response_format`.
 */
export function toChatRequest(request: ResponsesRequest, items: readonly InputItem[] = conversationOf(request)): Record<string, unknown> & { tools?: ToolDefinition[] } {
  const system: string[] = request.instructions ? [request.instructions] : [];
  const messages: ChatMessage[] = [];
  let reasoning = '';
  /** The assistant message calls are added to: the last one, while nothing else came after it. */
  const assistant = (): ChatMessage => {
    const last = messages.at(-1);
    if (last?.role === 'assistant') return last;
    const created: ChatMessage = { role: 'assistant', content: null };
    messages.push(created);
    return created;
  };
  const addCall = (id: string, name: string, args: string) => {
    const target = assistant();
    target.tool_calls = [...((target.tool_calls as unknown[] | undefined) ?? []), { id, type: 'function', function: { name, arguments: args } }];
    if (reasoning) target.reasoning = `${(target.reasoning as string | undefined) ?? ''}${reasoning}`;
    reasoning = '';
  };
  for (const item of items) {
    switch (item.type) {
      case undefined:
      case 'message': {
        const text = textOf(item.content);
        if (item.role === 'system' || item.role === 'developer') {
          if (text) system.push(text);
        } else if (item.role === 'assistant') {
          messages.push({ role: 'assistant', content: text, ...(reasoning ? { reasoning } : {}) });
          reasoning = '';
        } else messages.push({ role: 'user', content: text });
        break;
      }
      case 'reasoning':
        reasoning += [...(item.content ?? []), ...(item.content?.length ? [] : (item.summary ?? []))].filter((part) => part !== undefined).map((part) => part.text).join('');
        break;
      case 'function_call':
        addCall(item.call_id, chatName(item.name, item.namespace), item.arguments);
        break;
      case 'custom_tool_call':
        addCall(item.call_id, chatName(item.name, item.namespace), JSON.stringify({ [CUSTOM_TOOL_INPUT]: item.input }));
        break;
      case 'function_call_output':
      case 'custom_tool_call_output':
        messages.push({ role: 'tool', tool_call_id: item.call_id, content: textOf(item.output) });
        break;
    }
  }
  const offered = request.tool_choice === 'none' ? [] : offeredTools(request.tools ?? []);
  const format = request.text?.format;
  return {
    messages: [...(system.length > 0 ? [{ role: 'system', content: system.join('\n\n') }] : []), ...messages],
    stream: request.stream === true,
    ...(request.max_output_tokens != null ? { max_tokens: request.max_output_tokens } : {}),
    ...(request.temperature != null ? { temperature: request.temperature } : {}),
    ...(request.top_p != null ? { top_p: request.top_p } : {}),
    ...(offered.length > 0 ? { tools: offered.map(({ chatName: name, tool }) => chatTool(name, tool)) } : {}),
    ...(offered.length > 0 && request.tool_choice != null && request.tool_choice !== 'none' ? { tool_choice: chatToolChoice(request.tool_choice) } : {}),
    ...(request.parallel_tool_calls != null && offered.length > 0 ? { parallel_tool_calls: request.parallel_tool_calls } : {}),
    ...(format?.type === 'json_object' ? { response_format: { type: 'json_object' } } : {}),
    ...(format?.type === 'json_schema' ? { response_format: { type: 'json_schema', json_schema: { name: format.name ?? 'response', schema: format.schema, ...(format.strict != null ? { strict: format.strict } : {}) } } } : {}),
  };
}

function chatTool(name: string, tool: LeafTool): ToolDefinition {
  const description = tool.description ? { description: tool.description } : {};
  if (tool.type === 'custom') {
    const parameters: JsonSchema = { type: 'object', properties: { [CUSTOM_TOOL_INPUT]: { type: 'string', description: 'the tool\'s whole input, as raw text' } }, required: [CUSTOM_TOOL_INPUT] };
    return { type: 'function', function: { name, ...description, parameters } };
  }
  // The schema is the client's, passed on as given; the parser reads what it knows of it.
  return { type: 'function', function: { name, ...description, parameters: (tool.parameters ?? { type: 'object', properties: {} }) as JsonSchema } };
}

function chatToolChoice(choice: NonNullable<ResponsesRequest['tool_choice']>): unknown {
  if (typeof choice === 'string') return choice;
  if ((choice.type === 'function' || choice.type === 'custom') && typeof choice.name === 'string') return { type: 'function', function: { name: chatName(choice.name, choice.namespace as string | null | undefined) } };
  return 'auto';
}
