import { z } from 'zod';

/**
 * Ollama's request bodies (`/api/chat`, `/api/generate`, `/api/show`) as its clients send them
 * (the official `ollama` client, Zed, VS Code, Open WebUI, aider, goose). Unknown fields are
 * dropped, not refused, as Ollama drops them; a field read here with a value of the wrong type is
 * a 400 that names it. What a local MLX model cannot do (images) is refused by name.
 */
const refused = (why: string) =>
  z
    .unknown()
    .optional()
    .superRefine((value, context) => {
      if (value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0)) context.addIssue({ code: 'custom', message: why });
    });

const NO_IMAGES = 'images are not supported: mlx-guard serves a text model (mlx_lm.server takes no images); send text only';

/** Ollama's sampling options. Those the model server has a counterpart for are typed; the rest are dropped (`OPTION_NAMES`). */
export const options = z
  .object({
    num_predict: z.number().int().optional(),
    temperature: z.number().nonnegative().optional(),
    top_p: z.number().min(0).max(1).optional(),
    top_k: z.number().int().nonnegative().optional(),
    min_p: z.number().min(0).max(1).optional(),
    seed: z.number().int().optional(),
    stop: z.union([z.string(), z.array(z.string())]).optional(),
    repeat_penalty: z.number().nonnegative().optional(),
    repeat_last_n: z.number().int().nonnegative().optional(),
    presence_penalty: z.number().optional(),
    frequency_penalty: z.number().optional(),
    num_ctx: z.number().int().positive().optional(),
  })
  .loose();

/** `format`: "json", a JSON schema, or nothing ("" is Ollama's nothing). */
const format = z.union([z.literal(''), z.literal('json'), z.record(z.string(), z.unknown())]).nullish();

/** `think`: on, off, or a level (gpt-oss's "low", "medium", "high"). */
const think = z.union([z.boolean(), z.enum(['low', 'medium', 'high'])]).nullish();

/** `keep_alive`: accepted (a duration or seconds); the one model stays loaded whatever it says. */
const keepAlive = z.union([z.string(), z.number()]).nullish();

const toolCall = z
  .object({
    id: z.string().optional(),
    function: z.object({ name: z.string().min(1), arguments: z.record(z.string(), z.unknown()).default({}) }).loose(),
  })
  .loose();

const message = z
  .object({
    role: z.enum(['system', 'user', 'assistant', 'tool']),
    content: z.string().nullish(),
    thinking: z.string().nullish(),
    images: refused(NO_IMAGES),
    tool_calls: z.array(toolCall).nullish(),
    /** The tool a result answers (Ollama's name for it). */
    tool_name: z.string().nullish(),
    tool_call_id: z.string().nullish(),
  })
  .loose();

const tool = z.object({
  type: z.literal('function').default('function'),
  function: z.object({ name: z.string().min(1), description: z.string().optional(), parameters: z.record(z.string(), z.unknown()).optional() }).loose(),
});

const common = {
  model: z.string().min(1, 'name the model (GET /api/tags lists it)'),
  format,
  options: options.nullish(),
  stream: z.boolean().nullish(),
  keep_alive: keepAlive,
  think,
};

export const chatRequest = z.object({
  ...common,
  messages: z.array(message).nullish(),
  tools: z.array(tool).nullish(),
});

export const generateRequest = z.object({
  ...common,
  prompt: z.string().nullish(),
  system: z.string().nullish(),
  raw: z.boolean().nullish(),
  suffix: z.string().nullish(),
  images: refused(NO_IMAGES),
  /** A conversation encoded by an earlier answer: mlx-guard gives none, and ignores it. */
  context: z.array(z.number()).nullish(),
  template: z.string().nullish(),
});

export const showRequest = z.object({ model: z.string().min(1).optional(), name: z.string().min(1).optional() }).refine((request) => request.model ?? request.name, { message: 'name the model (GET /api/tags lists it)', path: ['model'] });

export type ChatRequest = z.output<typeof chatRequest>;
export type GenerateRequest = z.output<typeof generateRequest>;
export type OllamaOptions = z.output<typeof options>;
