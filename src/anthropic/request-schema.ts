import { z } from 'zod';
import { tokenCount } from '../openai/index.js';

/**
 * A Messages API request as Anthropic clients send it (SDK 1.x and 0.x, Claude Code). Fields and
 * block types mlx_lm.server cannot use are accepted and dropped, except images, which it cannot
 * read: refused by name. Unknown fields are dropped (new ones arrive with every client release).
 */
const text = z.object({ type: z.literal('text'), text: z.string() });
const image = z.object({ type: z.literal('image') }).superRefine((_, context) => context.addIssue({ code: 'custom', message: 'image blocks are not supported: mlx_lm.server reads text only' }));
const toolUse = z.object({ type: z.literal('tool_use'), id: z.string(), name: z.string(), input: z.record(z.string(), z.unknown()) });
const resultPart = z.union([text, image, z.object({ type: z.string() }).loose()]);
const toolResult = z.object({
  type: z.literal('tool_result'),
  tool_use_id: z.string(),
  content: z.union([z.string(), z.array(resultPart)]).optional(),
  is_error: z.boolean().optional(),
});
const thinking = z.object({ type: z.literal('thinking'), thinking: z.string(), signature: z.string().optional() });
/** Blocks with nothing for the model server (redacted thinking, server-tool results, documents...): dropped. */
const KNOWN = new Set(['text', 'image', 'tool_use', 'tool_result', 'thinking']);
const ignored = z
  .object({ type: z.string().refine((type) => !KNOWN.has(type)) })
  .loose()
  .transform(() => undefined);
const block = z.union([text, image, toolUse, toolResult, thinking, ignored]);

const message = z.object({
  role: z.enum(['user', 'assistant', 'system']),
  content: z.union([z.string(), z.array(block)]),
});

const tool = z.object({
  name: z.string().min(1),
  description: z.string().optional(),
  input_schema: z.record(z.string(), z.unknown()).optional(),
});

export const messagesRequest = z.object({
  model: z.string().min(1),
  max_tokens: tokenCount,
  messages: z.array(message).min(1),
  system: z.union([z.string(), z.array(z.union([text, ignored]))]).optional(),
  stream: z.boolean().optional(),
  stop_sequences: z.array(z.string()).max(64).optional(),
  // API version 2026-10-21 dropped these three; 2023-06-01 clients (Claude Code) still send them.
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().nonnegative().optional(),
  tools: z.array(tool).optional(),
  tool_choice: z.object({ type: z.enum(['auto', 'any', 'tool', 'none']), name: z.string().optional() }).optional(),
  thinking: z.object({ type: z.enum(['enabled', 'disabled', 'adaptive']) }).optional(),
});

export type MessagesRequest = z.output<typeof messagesRequest>;

/** count_tokens takes the same prompt, without `max_tokens`. */
export const countTokensRequest = messagesRequest.omit({ max_tokens: true, stream: true, stop_sequences: true });
export type CountTokensRequest = z.output<typeof countTokensRequest>;
