// The shapes mlx_lm.server sends (0.32; test/mlx compares the stand-in with the real server), as strict zod schemas: a field
// too many or too few fails the test.
import { z } from 'zod';

const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
const envelope = {
  system_fingerprint: z.string(),
  model: z.string(),
  created: z.number().int(),
};

export const usage = z.strictObject({
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  total_tokens: z.number().int(),
  prompt_tokens_details: z.strictObject({ cached_tokens: z.number().int() }),
});

const toolCall = z.strictObject({
  function: z.strictObject({ name: z.string(), arguments: z.string() }),
  type: z.literal('function'),
  id: uuid,
});

export const finishReason = z.enum(['stop', 'length', 'tool_calls']);

export const chatCompletion = z.strictObject({
  id: z.string().regex(/^chatcmpl-/),
  ...envelope,
  object: z.literal('chat.completion'),
  choices: z.tuple([
    z.strictObject({
      index: z.literal(0),
      finish_reason: finishReason,
      logprobs: z.object({ content: z.array(z.object({ id: z.number().int(), logprob: z.number() })) }).optional(),
      message: z.strictObject({
        role: z.literal('assistant'),
        content: z.string().min(1).nullable(),
        reasoning: z.string().optional(),
        tool_calls: z.array(toolCall).optional(),
      }),
    }),
  ]),
  usage,
});

export const chatChunk = z.strictObject({
  id: z.string().regex(/^chatcmpl-/),
  ...envelope,
  object: z.literal('chat.completion.chunk'),
  choices: z.tuple([
    z.strictObject({
      index: z.literal(0),
      finish_reason: finishReason.nullable(),
      delta: z.strictObject({
        role: z.literal('assistant'),
        content: z.string().optional(),
        reasoning: z.string().optional(),
        tool_calls: z.array(toolCall.extend({ index: z.number().int() })).optional(),
      }),
    }),
  ]),
});

export const usageChunk = z.strictObject({
  id: z.string(),
  ...envelope,
  object: z.literal('chat.completion'),
  choices: z.tuple([]),
  usage,
});

export const textCompletion = z.strictObject({
  id: z.string().regex(/^cmpl-/),
  ...envelope,
  object: z.literal('text_completion'),
  choices: z.tuple([z.strictObject({ index: z.literal(0), finish_reason: finishReason, text: z.string() })]),
  usage,
});

export const textChunk = z.strictObject({
  id: z.string().regex(/^cmpl-/),
  ...envelope,
  object: z.literal('text_completion'),
  choices: z.tuple([z.strictObject({ index: z.literal(0), finish_reason: finishReason.nullable(), text: z.string() })]),
});

export const models = z.strictObject({
  object: z.literal('list'),
  data: z.array(z.strictObject({ id: z.string(), object: z.literal('model'), created: z.number().int() })),
});

export const errorBody = z.strictObject({ error: z.string() });
