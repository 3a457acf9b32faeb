import { randomBytes } from 'node:crypto';
import type { ResponsesRequest } from './request-schema.js';
import { CUSTOM_TOOL_INPUT } from './to-chat.js';
import { offeredTools, type OfferedTool } from './tool-names.js';

/** An id of the Responses API's form: its prefix (`resp`, `msg`, `fc`, `ctc`, `rs`), then 24 random bytes in hex. */
export const newId = (prefix: string) => `${prefix}_${randomBytes(24).toString('hex')}`;

export type OutputItem = Record<string, unknown> & { type: string; id: string };

export interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** Chat-completions usage as the Responses API's (the prompt cache's hits are `cached_tokens`). */
export function toUsage(usage: unknown): ResponsesUsage {
  const u = (usage ?? {}) as { prompt_tokens?: number; completion_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } };
  const input = u.prompt_tokens ?? 0;
  const output = u.completion_tokens ?? 0;
  return { input_tokens: input, input_tokens_details: { cached_tokens: u.prompt_tokens_details?.cached_tokens ?? 0 }, output_tokens: output, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: input + output };
}

/**
 * What one response says of its request (echoed as the API does), and how its calls come out:
 * a call of a freeform tool is a `custom_tool_call` carrying the raw input.
 */
export class ResponseShape {
  readonly id = newId('resp');
  readonly createdAt = Math.floor(Date.now() / 1000);
  /** The declared tools by the name the model calls them. */
  readonly #offered: Map<string, OfferedTool>;

  constructor(
    readonly request: ResponsesRequest,
    /** Called with each finished response (completed or incomplete), to keep it. */
    readonly keep: (response: Record<string, unknown>) => void = () => undefined,
  ) {
    this.#offered = new Map(offeredTools(request.tools ?? []).map((offered) => [offered.chatName, offered]));
  }

  /** The response object in a given state, its output and usage as far as known. */
  envelope(status: 'in_progress' | 'completed' | 'incomplete' | 'failed', output: OutputItem[], extra: { usage?: ResponsesUsage; error?: { code: string; message: string } } = {}): Record<string, unknown> {
    const r = this.request;
    return {
      id: this.id,
      object: 'response',
      created_at: this.createdAt,
      status,
      error: extra.error ?? null,
      incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
      instructions: r.instructions ?? null,
      max_output_tokens: r.max_output_tokens ?? null,
      model: r.model ?? 'default_model',
      output,
      parallel_tool_calls: r.parallel_tool_calls ?? true,
      previous_response_id: r.previous_response_id ?? null,
      reasoning: { effort: r.reasoning?.effort ?? null, summary: r.reasoning?.summary ?? null },
      store: r.store ?? false,
      temperature: r.temperature ?? null,
      text: { format: r.text?.format ?? { type: 'text' } },
      tool_choice: r.tool_choice ?? 'auto',
      tools: r.tools ?? [],
      top_p: r.top_p ?? null,
      truncation: r.truncation ?? 'disabled',
      usage: extra.usage ?? null,
      metadata: r.metadata ?? {},
    };
  }

  /** A chat tool call (arguments as JSON text) as the output item the client declared it for (its namespace named apart). */
  callItem(call: Record<string, unknown>): OutputItem {
    const fn = (call.function ?? {}) as { name?: unknown; arguments?: unknown };
    const name = typeof fn.name === 'string' ? fn.name : '';
    const args = typeof fn.arguments === 'string' ? fn.arguments : JSON.stringify(fn.arguments ?? {});
    const callId = typeof call.id === 'string' && call.id !== '' ? call.id : newId('call');
    const offered = this.#offered.get(name);
    const named = offered?.namespace !== undefined ? { name: offered.name, namespace: offered.namespace } : { name };
    if (offered?.tool.type === 'custom') return { type: 'custom_tool_call', id: newId('ctc'), call_id: callId, ...named, input: customInput(args), status: 'completed' };
    return { type: 'function_call', id: newId('fc'), call_id: callId, ...named, arguments: args, status: 'completed' };
  }
}

/** A freeform tool's raw input from the one-string arguments it was offered with (or the arguments themselves, when the model wrote something else). */
function customInput(args: string): string {
  try {
    const value = JSON.parse(args) as unknown;
    const input = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[CUSTOM_TOOL_INPUT] : undefined;
    return typeof input === 'string' ? input : args;
  } catch {
    return args;
  }
}

type ItemStatus = 'in_progress' | 'completed';
/** The part text is in: a message's, a reasoning item's. */
export const outputText = (text: string) => ({ type: 'output_text', text, annotations: [], logprobs: [] });
export const reasoningText = (text: string) => ({ type: 'reasoning_text', text });
/** An item with its text: in progress, it has no part yet (a stream adds it, then its deltas). */
export const messageItem = (text: string, status: ItemStatus = 'completed'): OutputItem => ({ type: 'message', id: newId('msg'), status, role: 'assistant', content: status === 'completed' ? [outputText(text)] : [] });
export const reasoningItem = (text: string, status: ItemStatus = 'completed'): OutputItem => ({ type: 'reasoning', id: newId('rs'), summary: [], content: status === 'completed' ? [reasoningText(text)] : [] });

/** A whole chat completion (its tool calls merged) as a response: reasoning, the message, the calls. */
export function toResponse(completion: Record<string, unknown>, shape: ResponseShape): Record<string, unknown> {
  const choice = ((completion.choices as Array<Record<string, unknown>> | undefined) ?? [])[0] ?? {};
  const message = (choice.message ?? {}) as Record<string, unknown>;
  const output: OutputItem[] = [];
  if (typeof message.reasoning === 'string' && message.reasoning) output.push(reasoningItem(message.reasoning));
  if (typeof message.content === 'string' && message.content) output.push(messageItem(message.content));
  for (const call of (message.tool_calls as Array<Record<string, unknown>> | undefined) ?? []) output.push(shape.callItem(call));
  return shape.envelope(choice.finish_reason === 'length' ? 'incomplete' : 'completed', output, { usage: toUsage(completion.usage) });
}
