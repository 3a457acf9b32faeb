/** A client's request made safe for mlx_lm.server (docs/mlx-lm.md). */
export interface UpstreamRequest {
  /** The JSON to send, as text (some fields need a float spelling JSON.stringify does not give). */
  body: string;
  /** The client's `model`, echoed back in responses (the server never sees it). */
  clientModel: string | undefined;
  /** What the client asked for. */
  clientStreams: boolean;
  clientWantsUsage: boolean;
  /** What is asked of the server: streamed, unless logprobs are wanted (never streamed upstream). */
  upstreamStreams: boolean;
  /** The client asked for more tokens than `maxTokens`: what it asked, and what is sent instead. */
  maxTokensCapped?: { requested: number; cap: number };
}

/** What a request may ask of the model server. */
export interface RequestLimits {
  /** Whether the client's `model` may go to the server (which then loads it); else it is removed. */
  modelAllowed?: (name: string) => boolean;
  /** Most tokens one answer may ask for: more is lowered to this (the model's context, or the configured maximum). */
  maxTokens?: number;
}

/** The names clients give the length of an answer; the server reads either (`max_completion_tokens` first). */
const MAX_TOKENS_FIELDS = ['max_tokens', 'max_completion_tokens'] as const;

/** The server rejects an integer here (`float` only), and JSON cannot tell 0 from 0.0. */
const FLOAT_ONLY = ['xtc_probability', 'xtc_threshold'] as const;
const MAX_TOP_LOGPROBS = 11;

/**
 * - drops null fields (the server drops the connection on `"stream": null` and friends);
 * - removes `model`: any name but the loaded one makes the server try to download it (and drop the
 *   loaded model), so the client's name is only echoed back, unless `modelAllowed` says the
 *   server may switch to it;
 * - streams upstream with usage (early headers, keepalives, real cancellation), except for logprobs;
 * - clamps `top_logprobs` to 11 and spells the float-only fields as floats;
 * - lowers `max_tokens` (and `max_completion_tokens`) to `maxTokens`: `1e15` would otherwise run
 *   until the deadline; the client learns the cap from the answer (`maxTokensCapped`).
 */
export function sanitizeRequest(input: Record<string, unknown>, { modelAllowed = () => false, maxTokens = Infinity }: RequestLimits = {}): UpstreamRequest {
  const body: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) if (value !== null && value !== undefined) body[key] = value;
  const clientModel = typeof body.model === 'string' ? body.model : undefined;
  if (clientModel === undefined || !modelAllowed(clientModel)) delete body.model;
  const clientStreams = body.stream === true;
  const options = typeof body.stream_options === 'object' && body.stream_options !== null ? (body.stream_options as Record<string, unknown>) : {};
  const clientWantsUsage = clientStreams && options.include_usage === true;
  const wantsLogprobs = body.logprobs === true || (typeof body.top_logprobs === 'number' && body.top_logprobs > 0);
  if (typeof body.top_logprobs === 'number' && body.top_logprobs > MAX_TOP_LOGPROBS) body.top_logprobs = MAX_TOP_LOGPROBS;
  const upstreamStreams = !wantsLogprobs;
  body.stream = upstreamStreams;
  if (upstreamStreams) body.stream_options = { ...options, include_usage: true };
  else delete body.stream_options;
  let maxTokensCapped: UpstreamRequest['maxTokensCapped'];
  for (const key of MAX_TOKENS_FIELDS) {
    const requested = body[key];
    if (typeof requested === 'number' && requested > maxTokens) {
      maxTokensCapped = { requested: Math.max(requested, maxTokensCapped?.requested ?? 0), cap: maxTokens };
      body[key] = maxTokens;
    }
  }

  const floats: string[] = [];
  for (const key of FLOAT_ONLY) {
    const value = body[key];
    if (typeof value === 'number' && Number.isInteger(value)) {
      floats.push(`${JSON.stringify(key)}: ${value}.0`);
      delete body[key];
    }
  }
  let json = JSON.stringify(body);
  if (floats.length > 0) json = `${json.slice(0, -1)}${json.length > 2 ? ', ' : ''}${floats.join(', ')}}`;
  return { body: json, clientModel, clientStreams, clientWantsUsage, upstreamStreams, ...(maxTokensCapped ? { maxTokensCapped } : {}) };
}
