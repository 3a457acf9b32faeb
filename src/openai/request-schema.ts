import { z } from 'zod';
import { exceedsBounds } from './bounds.js';

function isBoundedJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) && exceedsBounds(value) === undefined;
  } catch {
    return false;
  }
}

/**
 * Request bodies as mlx_lm.server accepts them (docs/mlx-lm.md). Before 0.32 the server drops the
 * connection on a field it rejects, which looks like a crash; 0.32 answers 400 in its own words.
 * Checking here gives every version a 400 that names the field. A field the server does not read is dropped, not refused: OpenAI's
 * clients add fields every release (`prompt_cache_key`, `store`, …), and the server would ignore
 * them anyway. A field it reads with a value of the wrong type is still a 400.
 */
const int = z.number().int();
const nonNegative = z.number().nonnegative();
const unit = z.number().min(0).max(1);
const opt = <T extends z.ZodType>(schema: T) => schema.nullish();

/**
 * A length of answer in tokens: a whole number, at least one (the server refuses fewer: 0.32.2 says
 * "max_tokens must be at least 1"). Any size: past the cap it is lowered, not refused
 * (`sanitizeRequest`), and zod's `int()` would refuse one beyond 2^53 as "too big".
 */
export const tokenCount = z.number().positive().refine(Number.isInteger, 'expected an integer');

const contentPart = z
  .object({ type: z.string(), text: z.string().optional() })
  .loose()
  .superRefine((part, context) => {
    if (part.type !== 'text') context.addIssue({ code: 'custom', message: `only text content parts are supported by mlx_lm.server (got "${part.type}")` });
    else if (part.text === undefined) context.addIssue({ code: 'custom', message: 'a text part needs its "text"' });
  });

const toolCall = z
  .object({
    id: z.string().optional(),
    type: z.literal('function').optional(),
    function: z.object({
      name: z.string(),
      // The server json.loads it (and drops the connection when that fails): text must be the
      // JSON of an object, within the same depth bound as the body; an object is normalised to its text.
      arguments: z.union([z.string().refine(isBoundedJsonObject, 'must be the JSON text of an object (nested at most 32 levels)'), z.record(z.string(), z.unknown()).transform((value) => JSON.stringify(value))]),
    }),
  })
  .loose();

const message = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
    content: z.union([z.string(), z.null(), z.array(contentPart)]).optional(),
    name: z.string().optional(),
    tool_calls: z.array(toolCall).nullish(),
    tool_call_id: z.string().optional(),
    reasoning: z.string().optional(),
  })
  .loose();

const tool = z.object({ type: z.literal('function'), function: z.object({ name: z.string().min(1), description: z.string().optional(), parameters: z.record(z.string(), z.unknown()).optional() }).loose() });

/** Fields mlx_lm.server reads, with its types and ranges. */
const sampling = {
  model: opt(z.string()),
  max_tokens: opt(tokenCount),
  max_completion_tokens: opt(tokenCount),
  temperature: opt(nonNegative),
  top_p: opt(unit),
  top_k: opt(int.nonnegative()),
  min_p: opt(unit),
  repetition_penalty: opt(nonNegative),
  repetition_context_size: opt(int.nonnegative()),
  presence_penalty: opt(z.number()),
  frequency_penalty: opt(z.number()),
  presence_context_size: opt(int.nonnegative()),
  frequency_context_size: opt(int.nonnegative()),
  xtc_probability: opt(unit),
  xtc_threshold: opt(unit),
  logit_bias: opt(z.record(z.string().regex(/^-?\d+$/, 'keys must be token ids'), z.number())),
  logprobs: opt(z.boolean()),
  top_logprobs: opt(int.min(-1).max(11)),
  seed: opt(int),
  stream: opt(z.boolean()),
  stream_options: opt(z.object({ include_usage: z.boolean().optional() }).loose()),
  stop: opt(z.union([z.string(), z.array(z.string())])),
  num_draft_tokens: opt(int.nonnegative()),
};

export const chatRequest = z.object({
  ...sampling,
  messages: z.array(message).min(1),
  tools: opt(z.array(tool)),
  chat_template_kwargs: opt(z.record(z.string(), z.unknown())),
  role_mapping: opt(z.record(z.string(), z.unknown())),
});

export const completionRequest = z.object({ ...sampling, prompt: z.string() });

/** The top-level fields of `raw` that `schema` does not read (and so drops). */
export function unreadFields(schema: z.ZodObject, raw: unknown): string[] {
  if (typeof raw !== 'object' || raw === null) return [];
  return Object.keys(raw).filter((key) => !Object.hasOwn(schema.shape, key));
}

export type ChatRequest = z.output<typeof chatRequest>;
export type CompletionRequest = z.output<typeof completionRequest>;

/** The first problem, as a person can act on it: which field, and what is wrong with it. */
export function describeIssue(error: z.ZodError): { message: string; param: string | null } {
  const issue = error.issues[0]!;
  const param = issue.path.length > 0 ? issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('') : null;
  return { message: `${param ?? 'body'}: ${issue.message}`, param };
}
