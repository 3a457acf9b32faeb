import { z } from 'zod';
import { tokenCount } from '../openai/index.js';

/**
 * A Responses API request (`POST /v1/responses`) as the OpenAI SDK and Codex send it. Unknown
 * fields and item types with nothing for a text model (`item_reference`, web search results) are
 * dropped; images and files, which mlx_lm.server cannot read, and built-in tools it cannot run,
 * are refused by name.
 */
/**
 * A union keyed by `type` (a message's may be left out), whose errors name the field that is
 * wrong in the member the type selects; zod's plain union says only "Invalid input". A type
 * outside `members` is refused with `refuse`'s message, or dropped (undefined) when it gives none.
 */
function byType<M extends Record<string, z.ZodType>>(members: M, refuse: (type: string) => string | undefined, absent = 'message') {
  return z
    .object({ type: z.string().optional() })
    .loose()
    .transform((value, context): z.output<M[keyof M]> | undefined => {
      const type = value.type ?? absent;
      const member = Object.hasOwn(members, type) ? members[type] : undefined;
      if (!member) {
        const refusal = refuse(type);
        if (refusal !== undefined) context.addIssue({ code: 'custom', message: refusal, path: ['type'] });
        return refusal === undefined ? undefined : z.NEVER;
      }
      const parsed = member.safeParse(value);
      if (parsed.success) return parsed.data as z.output<M[keyof M]>;
      for (const issue of parsed.error.issues) context.addIssue({ code: 'custom', message: issue.message, path: issue.path });
      return z.NEVER;
    });
}

/** Text, or what `schema` reads: its errors name its fields (a plain union's say "Invalid input"). */
function textOr<S extends z.ZodType>(schema: S) {
  return z.unknown().transform((value, context): string | z.output<S> => {
    if (typeof value === 'string') return value;
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data as z.output<S>;
    for (const issue of parsed.error.issues) context.addIssue({ code: 'custom', message: issue.message, path: issue.path });
    return z.NEVER;
  });
}

const text = z.object({ type: z.string(), text: z.string() });
/** Text parts in their names; images, files and audio refused (mlx_lm.server reads text only); anything else (a refusal echoed back) dropped. */
const parts = z.array(
  byType({ input_text: text, output_text: text, text, summary_text: text, reasoning_text: text }, (type) =>
    ['input_image', 'input_file', 'input_audio'].includes(type) ? `${type} parts are not supported: mlx_lm.server reads text only` : undefined,
  ),
);
const content = textOr(parts);

const message = z.object({
  type: z.literal('message').optional(),
  role: z.enum(['user', 'assistant', 'system', 'developer']),
  content,
});
const functionCall = z.object({ type: z.literal('function_call'), call_id: z.string().min(1), name: z.string().min(1), namespace: z.string().nullish(), arguments: z.string() });
const functionCallOutput = z.object({ type: z.literal('function_call_output'), call_id: z.string().min(1), output: content });
const customToolCall = z.object({ type: z.literal('custom_tool_call'), call_id: z.string().min(1), name: z.string().min(1), namespace: z.string().nullish(), input: z.string() });
const customToolCallOutput = z.object({ type: z.literal('custom_tool_call_output'), call_id: z.string().min(1), output: content });
const reasoning = z.object({ type: z.literal('reasoning'), summary: parts.optional(), content: parts.nullish() });
/** Items a text model has no use for (`item_reference`, a built-in tool's call echoed back) are dropped. */
const item = byType({ message, function_call: functionCall, function_call_output: functionCallOutput, custom_tool_call: customToolCall, custom_tool_call_output: customToolCallOutput, reasoning }, () => undefined);
export type InputItem = NonNullable<z.output<typeof item>>;
/** Items as the schema reads them (a stored response's output is read back this way, to be continued). */
export const inputItems = z.array(item).transform((items) => items.filter((i) => i !== undefined));

/** Built-in tools run by OpenAI's servers: a local model server has none of them. */
const BUILT_IN = new Set(['web_search', 'web_search_preview', 'web_search_preview_2025_03_11', 'file_search', 'computer_use_preview', 'computer_use', 'code_interpreter', 'image_generation', 'mcp', 'local_shell']);
const functionTool = z.object({
  type: z.literal('function'),
  name: z.string().min(1),
  description: z.string().nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});
/** A freeform tool (Codex's `apply_patch`): its input is raw text, not JSON arguments. */
const customTool = z.object({ type: z.literal('custom'), name: z.string().min(1), description: z.string().nullish() });
const refuseTool = (type: string) =>
  BUILT_IN.has(type)
    ? `the built-in tool "${type}" is not available: it runs on OpenAI's servers, and a local model server has nothing to run it with; declare a function tool instead${type === 'web_search' ? ' (Codex: web_search = "disabled" in config.toml)' : ''}`
    : `unknown tool type "${type}" (function, custom and namespace tools are served)`;
/** Function and custom tools grouped under a name (Codex's `multi_agent_v1`): calls of them name the namespace. */
const namespaceTool = z.object({
  type: z.literal('namespace'),
  name: z.string().min(1),
  description: z.string().nullish(),
  tools: z.array(byType({ function: functionTool, custom: customTool }, refuseTool)).transform((tools) => tools.filter((t) => t !== undefined)),
});
const tool = byType({ function: functionTool, custom: customTool, namespace: namespaceTool }, refuseTool);
export type ResponsesTool = z.output<typeof functionTool> | z.output<typeof customTool> | z.output<typeof namespaceTool>;
export type LeafTool = z.output<typeof functionTool> | z.output<typeof customTool>;

const toolChoice = z.union([z.enum(['auto', 'none', 'required']), z.object({ type: z.enum(['function', 'custom']), name: z.string().min(1), namespace: z.string().nullish() }), z.object({ type: z.string() }).loose()]);

const format = z.union([
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object') }),
  z.object({ type: z.literal('json_schema'), name: z.string().optional(), schema: z.record(z.string(), z.unknown()), strict: z.boolean().nullish(), description: z.string().optional() }),
]);

export const responsesRequest = z.object({
  model: z.string().min(1).optional(),
  input: textOr(z.array(item)),
  instructions: z.string().nullish(),
  // No tool is dropped (an unknown type is refused): the filter only tells the types so.
  tools: z
    .array(tool)
    .transform((tools) => tools.filter((t) => t !== undefined))
    .nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  max_output_tokens: tokenCount.nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  stream: z.boolean().nullish(),
  reasoning: z.object({ effort: z.string().nullish(), summary: z.string().nullish() }).nullish(),
  text: z.object({ format: format.optional(), verbosity: z.string().nullish() }).nullish(),
  include: z.array(z.string()).nullish(),
  store: z.boolean().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  prompt_cache_key: z.string().nullish(),
  user: z.string().nullish(),
  truncation: z.enum(['auto', 'disabled']).nullish(),
  previous_response_id: z.string().min(1).nullish(),
});

export type ResponsesRequest = z.output<typeof responsesRequest>;
