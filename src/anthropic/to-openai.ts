import type { CountTokensRequest, MessagesRequest } from './request-schema.js';

type Block = Exclude<MessagesRequest['messages'][number]['content'], string>[number];
type OpenAiMessage = Record<string, unknown> & { role: string };

const textOf = (blocks: ReadonlyArray<Block | { type: string; text?: unknown }>): string =>
  blocks
    .filter((b): b is { type: 'text'; text: string } => b !== undefined && b.type === 'text' && typeof (b as { text?: unknown }).text === 'string')
    .map((b) => b.text)
    .join('\n\n');

/**
 * A Messages request as one chat-completions request for mlx_lm.server: the system prompt first,
 * tool results as `tool` messages (before the user's own text, in the order they answer the
 * calls), assistant tool calls as `tool_calls`, thinking as `reasoning`. `model` is not sent (the
 * model server would try to load a model of that name); the caller echoes it back.
 */
export function toChatRequest(request: MessagesRequest | CountTokensRequest, options: { stream: boolean; maxTokens: number }): Record<string, unknown> {
  const messages: OpenAiMessage[] = [];
  const system = typeof request.system === 'string' ? request.system : textOf(request.system?.filter((b) => b !== undefined) ?? []);
  if (system) messages.push({ role: 'system', content: system });
  for (const turn of request.messages) {
    if (typeof turn.content === 'string') {
      messages.push({ role: turn.role, content: turn.content });
      continue;
    }
    const blocks = turn.content.filter((b): b is NonNullable<Block> => b !== undefined);
    if (turn.role === 'assistant') {
      const calls = blocks.filter((b) => b.type === 'tool_use').map((b) => ({ id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input) } }));
      const reasoning = blocks.filter((b) => b.type === 'thinking').map((b) => b.thinking).join('');
      messages.push({ role: 'assistant', content: textOf(blocks) || null, ...(calls.length > 0 ? { tool_calls: calls } : {}), ...(reasoning ? { reasoning } : {}) });
      continue;
    }
    for (const result of blocks.filter((b) => b.type === 'tool_result')) {
      const content = typeof result.content === 'string' ? result.content : textOf((result.content ?? []) as Block[]);
      messages.push({ role: 'tool', tool_call_id: result.tool_use_id, content: result.is_error ? `Error: ${content}` : content });
    }
    const text = textOf(blocks);
    if (text || !blocks.some((b) => b.type === 'tool_result')) messages.push({ role: turn.role, content: text });
  }
  const toolsOffered = request.tools && request.tools.length > 0 && request.tool_choice?.type !== 'none';
  return {
    messages,
    max_tokens: options.maxTokens,
    stream: options.stream,
    ...('temperature' in request && request.temperature !== undefined ? { temperature: request.temperature } : {}),
    ...('top_p' in request && request.top_p !== undefined ? { top_p: request.top_p } : {}),
    ...('top_k' in request && request.top_k !== undefined ? { top_k: request.top_k } : {}),
    ...(toolsOffered ? { tools: request.tools!.map((t) => ({ type: 'function', function: { name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.input_schema ?? { type: 'object', properties: {} } } })) } : {}),
    // Templates that know the switch (Qwen3 and kin) honour it; the others ignore the variable.
    ...(request.thinking?.type === 'disabled' ? { chat_template_kwargs: { enable_thinking: false } } : {}),
  };
}
