import type { ChatRequest, GenerateRequest, OllamaOptions } from './request-schema.js';

type OpenAiMessage = Record<string, unknown> & { role: string };

/** Ollama's options that the model server reads, under its names (docs/mlx-lm.md). */
const OPTION_NAMES: Partial<Record<keyof OllamaOptions, string>> = {
  temperature: 'temperature',
  top_p: 'top_p',
  top_k: 'top_k',
  min_p: 'min_p',
  seed: 'seed',
  stop: 'stop',
  repeat_penalty: 'repetition_penalty',
  repeat_last_n: 'repetition_context_size',
  presence_penalty: 'presence_penalty',
  frequency_penalty: 'frequency_penalty',
};

/** The request fields, for the chat completion, that Ollama's options and `format` and `think` give. */
export interface Translated {
  fields: Record<string, unknown>;
  /** What the model server has no counterpart for, as `options.<name>`: dropped (a debug log says so). */
  dropped: string[];
}

/**
 * Options, `format` and `think` as chat-completion fields. `num_predict` is `max_tokens`; without
 * one (Ollama's default, -1, is "no limit"; -2 is "fill the context") the answer may run to
 * `maxTokens`, the configured maximum, not to the model server's own default (mlx_lm.server's is
 * 512 tokens, which would cut a file an Ollama client expects whole); `num_ctx` has no
 * per-request counterpart (the model server's context is the model's) and is dropped with the
 * other runner options. `format` "json" or a schema is `response_format`, passed on: llama-server
 * enforces it; mlx_lm.server 0.32 does not (the model is asked, not bound).
 */
function commonFields(request: Pick<ChatRequest, 'options' | 'format' | 'think' | 'stream'>, maxTokens: number): Translated {
  const fields: Record<string, unknown> = { stream: request.stream !== false, ...(Number.isFinite(maxTokens) ? { max_tokens: maxTokens } : {}) };
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(request.options ?? {})) {
    if (value === undefined || value === null) continue;
    const upstream = OPTION_NAMES[name as keyof OllamaOptions];
    if (upstream) fields[upstream] = value;
    else if (name === 'num_predict') {
      if ((value as number) > 0) fields.max_tokens = value;
    } else dropped.push(`options.${name}`);
  }
  const format = request.format;
  if (format === 'json') fields.response_format = { type: 'json_object' };
  else if (format && typeof format === 'object') fields.response_format = { type: 'json_schema', json_schema: { name: 'format', schema: format } };
  // Templates that know the switch (Qwen3 and kin) honour it; the others ignore the variable.
  if (request.think !== undefined && request.think !== null) fields.chat_template_kwargs = { enable_thinking: request.think !== false };
  return { fields, dropped };
}

/**
 * An Ollama chat as one chat completion: tool calls with their arguments as JSON text and an id
 * each (Ollama's have none before 0.12), a tool result tied to the call it answers (its
 * `tool_call_id`, else the earliest unanswered call of its `tool_name`), thinking as `reasoning`.
 */
export function chatToOpenAi(request: ChatRequest, maxTokens = Infinity): Translated {
  const messages: OpenAiMessage[] = [];
  /** Calls not yet answered, in order: what a tool result answers when it names only its tool. */
  let unanswered: Array<{ id: string; name: string }> = [];
  let calls = 0;
  for (const turn of request.messages ?? []) {
    const content = turn.content ?? '';
    if (turn.role === 'assistant') {
      const toolCalls = (turn.tool_calls ?? []).map((call) => ({ id: call.id ?? `call_${calls++}`, type: 'function', function: { name: call.function.name, arguments: JSON.stringify(call.function.arguments) } }));
      unanswered = toolCalls.map((call) => ({ id: call.id, name: call.function.name }));
      messages.push({ role: 'assistant', content, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}), ...(turn.thinking ? { reasoning: turn.thinking } : {}) });
    } else if (turn.role === 'tool') {
      const answered = unanswered.find((call) => (turn.tool_call_id ? call.id === turn.tool_call_id : call.name === turn.tool_name)) ?? (turn.tool_call_id || turn.tool_name ? undefined : unanswered[0]);
      if (answered) unanswered = unanswered.filter((call) => call !== answered);
      const id = turn.tool_call_id ?? answered?.id;
      messages.push({ role: 'tool', content, ...(id ? { tool_call_id: id } : {}), ...(turn.tool_name ? { name: turn.tool_name } : {}) });
    } else messages.push({ role: turn.role, content });
  }
  const { fields, dropped } = commonFields(request, maxTokens);
  const tools = request.tools ?? [];
  return { fields: { messages, ...fields, ...(tools.length > 0 ? { tools: tools.map((t) => ({ type: 'function', function: t.function })) } : {}) }, dropped };
}

/**
 * An Ollama generate as a chat completion (the model's chat template applies, as Ollama applies
 * its template), or with `raw` as a text completion of the prompt as it is. `context` (a
 * conversation an earlier answer encoded; mlx-guard gives none) and `template` are dropped.
 */
export function generateToOpenAi(request: GenerateRequest, maxTokens = Infinity): Translated & { raw: boolean } {
  const { fields, dropped } = commonFields(request, maxTokens);
  if (request.context?.length) dropped.push('context');
  if (request.template) dropped.push('template');
  const prompt = request.prompt ?? '';
  if (request.raw) {
    // No template, so no template switch.
    const { chat_template_kwargs: _switch, ...plain } = fields;
    return { fields: { prompt, ...plain }, dropped, raw: true };
  }
  const messages = [...(request.system ? [{ role: 'system', content: request.system }] : []), { role: 'user', content: prompt }];
  return { fields: { messages, ...fields }, dropped, raw: false };
}
