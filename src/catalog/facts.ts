import { createHash } from 'node:crypto';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * What a model is, read from its own files (an MLX or Hugging Face model folder): what Ollama's
 * `/api/tags` and `/api/show` and the context length in `/v1/models` tell clients. Every field
 * may be unknown: a model named by a repo not in the cache, or a `command` backend's GGUF file.
 */
export interface ModelFacts {
  /** `model_type` of config.json (llama, qwen2…). */
  family?: string;
  /** The model's context window: `max_position_embeddings` (a multimodal model's text part's). */
  contextLength?: number;
  /** Parameters, counted from the weights' shapes (quantized weights unpacked). */
  parameterCount?: number;
  /** "Q4" for an MLX model quantized to 4 bits, else the weights' type ("BF16", "F32"). */
  quantization?: string;
  /** Bytes of the folder's files. */
  sizeBytes: number;
  /** Bytes of its weights (the safetensors files): what loading it takes, before any context. */
  weightsBytes: number;
  /**
   * Bytes its KV cache takes per token of context: keys and values, for every layer and KV head,
   * in 16 bits (mlx-lm keeps the cache in the model's float type).
   */
  kvBytesPerToken?: number;
  /** sha256 of the folder's file names, sizes and times: changes when the model does, without hashing gigabytes. */
  digest: string;
  modifiedAt: Date;
  /** The chat template (tokenizer_config.json or chat_template.jinja). */
  chatTemplate?: string;
  /** The sampling its makers recommend (generation_config.json), under Ollama's option names. */
  sampling?: Record<string, number>;
}

/** generation_config.json's sampling fields, by the names Ollama's `parameters` use. */
const SAMPLING_NAMES: Record<string, string> = { temperature: 'temperature', top_p: 'top_p', top_k: 'top_k', min_p: 'min_p', repetition_penalty: 'repeat_penalty' };

/** What a safetensors header is read for: each tensor's type and shape. */
interface TensorInfo {
  dtype: string;
  shape: number[];
}

/** A header larger than this is not a model's (a safetensors header lists tensors: kilobytes to a few MB). */
const MAX_HEADER_BYTES = 64 * 1024 * 1024;

const readJson = async (path: string): Promise<Record<string, unknown> | undefined> => {
  try {
    const value: unknown = JSON.parse(await readFile(path, 'utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

const positiveInteger = (value: unknown): number | undefined => (typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined);

/** The tensors of one safetensors file, from its header (8 bytes of length, then JSON). */
async function tensorsOf(path: string): Promise<Record<string, TensorInfo>> {
  const file = await open(path, 'r');
  try {
    const length = Buffer.alloc(8);
    await file.read(length, 0, 8, 0);
    const bytes = Number(length.readBigUInt64LE());
    if (bytes > MAX_HEADER_BYTES) throw new Error(`${path}: a safetensors header of ${bytes} bytes`);
    const header = Buffer.alloc(bytes);
    await file.read(header, 0, bytes, 8);
    const { __metadata__: _metadata, ...tensors } = JSON.parse(header.toString('utf8')) as Record<string, TensorInfo>;
    return tensors;
  } finally {
    await file.close();
  }
}

/**
 * Parameters from the tensors' shapes. An MLX-quantized weight packs 32/bits values in each
 * uint32 and has `scales` and `biases` beside it, which are not parameters.
 */
function countParameters(tensors: Record<string, TensorInfo>, bits: number | undefined): number {
  let count = 0;
  for (const [name, { dtype, shape }] of Object.entries(tensors)) {
    const base = name.replace(/\.(weight|scales|biases)$/, '');
    const quantized = bits !== undefined && `${base}.scales` in tensors;
    if (quantized && (name.endsWith('.scales') || name.endsWith('.biases'))) continue;
    const elements = shape.reduce((product, size) => product * size, 1);
    count += quantized && dtype === 'U32' ? (elements * 32) / bits : elements;
  }
  return count;
}

const chatTemplateOf = async (dir: string, tokenizerConfig: Record<string, unknown> | undefined): Promise<string | undefined> => {
  const template = tokenizerConfig?.chat_template;
  if (typeof template === 'string') return template;
  // Several named templates: the default one.
  if (Array.isArray(template)) {
    const named = template as Array<{ name?: unknown; template?: unknown }>;
    const chosen = named.find((entry) => entry.name === 'default') ?? named[0];
    if (typeof chosen?.template === 'string') return chosen.template;
  }
  return readFile(join(dir, 'chat_template.jinja'), 'utf8').catch(() => undefined);
};

/** The facts of the model in `dir`; what cannot be read is left out. */
export async function readModelFacts(dir: string): Promise<ModelFacts> {
  const names = (await readdir(dir)).sort();
  const files = await Promise.all(names.map(async (name) => ({ name, stats: await stat(join(dir, name)).catch(() => undefined) })));
  const regular = files.filter((file) => file.stats?.isFile());
  const digest = createHash('sha256');
  let sizeBytes = 0;
  let newest = 0;
  for (const { name, stats } of regular) {
    sizeBytes += stats!.size;
    newest = Math.max(newest, stats!.mtimeMs);
    digest.update(`${name}\0${stats!.size}\0${stats!.mtimeMs}\n`);
  }
  const config = await readJson(join(dir, 'config.json'));
  const text = (config?.text_config ?? config) as Record<string, unknown> | undefined;
  const quantization = (config?.quantization ?? config?.quantization_config) as { bits?: unknown } | undefined;
  const bits = positiveInteger(quantization?.bits);
  const weights = regular.filter((file) => file.name.endsWith('.safetensors'));
  let parameterCount: number | undefined;
  let dtype: string | undefined;
  try {
    const tensors = Object.assign({}, ...(await Promise.all(weights.map((file) => tensorsOf(join(dir, file.name)))))) as Record<string, TensorInfo>;
    if (weights.length > 0) parameterCount = countParameters(tensors, bits);
    dtype = Object.values(tensors).find((tensor) => tensor.dtype !== 'U32')?.dtype;
  } catch {
    // Unreadable weights: the count is unknown, the rest stands.
  }
  const family = typeof config?.model_type === 'string' ? config.model_type : undefined;
  const weightsBytes = weights.reduce((sum, file) => sum + file.stats!.size, 0);
  const kvBytesPerToken = text === undefined ? undefined : kvBytesOf(text);
  const contextLength = positiveInteger(text?.max_position_embeddings) ?? positiveInteger(config?.max_position_embeddings);
  const chatTemplate = await chatTemplateOf(dir, await readJson(join(dir, 'tokenizer_config.json')));
  const level = bits !== undefined ? `Q${bits}` : dtype;
  const generation = (await readJson(join(dir, 'generation_config.json'))) ?? {};
  const sampling = Object.fromEntries(Object.entries(SAMPLING_NAMES).flatMap(([field, name]) => (typeof generation[field] === 'number' ? [[name, generation[field] as number]] : [])));
  return {
    ...(family ? { family } : {}),
    ...(contextLength ? { contextLength } : {}),
    ...(parameterCount ? { parameterCount } : {}),
    ...(level ? { quantization: level } : {}),
    sizeBytes,
    weightsBytes,
    ...(kvBytesPerToken ? { kvBytesPerToken } : {}),
    digest: digest.digest('hex'),
    modifiedAt: new Date(newest),
    ...(chatTemplate ? { chatTemplate } : {}),
    ...(Object.keys(sampling).length > 0 ? { sampling } : {}),
  };
}

/**
 * A transformer's KV cache per token, from its config: 2 (keys, values) × layers × KV heads ×
 * head size × 2 bytes. KV heads default to the attention heads (no grouped-query attention), the
 * head size to the hidden size over the heads, as Hugging Face's configs define them.
 */
function kvBytesOf(config: Record<string, unknown>): number | undefined {
  const layers = positiveInteger(config.num_hidden_layers);
  const heads = positiveInteger(config.num_attention_heads);
  const kvHeads = positiveInteger(config.num_key_value_heads) ?? heads;
  const hidden = positiveInteger(config.hidden_size);
  const headSize = positiveInteger(config.head_dim) ?? (hidden !== undefined && heads !== undefined ? hidden / heads : undefined);
  if (layers === undefined || kvHeads === undefined || headSize === undefined) return undefined;
  return 2 * layers * kvHeads * headSize * 2;
}

/** "7.6B", "494.0M", "260.1K": parameters as Ollama's `parameter_size` gives them. */
export function parameterSize(count: number): string {
  if (count >= 1e9) return `${(count / 1e9).toFixed(1)}B`;
  if (count >= 1e6) return `${(count / 1e6).toFixed(1)}M`;
  return `${(count / 1e3).toFixed(1)}K`;
}

/** What the chat template shows the model can do, in Ollama's `capabilities` words. */
export function capabilitiesOf(facts: Pick<ModelFacts, 'chatTemplate'>): string[] {
  const template = facts.chatTemplate ?? '';
  return ['completion', ...(/\btools\b/.test(template) ? ['tools'] : []), ...(/<think>|enable_thinking|reasoning_content/.test(template) ? ['thinking'] : [])];
}
