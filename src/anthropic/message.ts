import { randomBytes } from 'node:crypto';
import { argumentsObject } from '../openai/index.js';

/** Anthropic's id forms: `msg_…` for a message, `toolu_…` for a tool call. */
export const newMessageId = () => `msg_${randomBytes(12).toString('base64url')}`;
/** A call's id as a `toolu_` id, in the characters Anthropic's ids use (a model's own id, Kimi's `functions.f:0`, has others). */
export const toToolUseId = (callId: unknown) =>
  typeof callId === 'string' && callId.startsWith('toolu_') ? callId : `toolu_${typeof callId === 'string' ? callId.replace(/^call_/, '').replace(/[^A-Za-z0-9_-]/g, '_') : randomBytes(12).toString('base64url')}`;

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'refusal';

/** An OpenAI finish reason as Anthropic's stop reason (`stop_sequence` only when mlx-guard matched one). */
export function stopReason(finishReason: unknown, stopSequence: unknown): StopReason {
  if (typeof stopSequence === 'string') return 'stop_sequence';
  if (finishReason === 'length') return 'max_tokens';
  if (finishReason === 'tool_calls') return 'tool_use';
  if (finishReason === 'content_filter') return 'refusal';
  return 'end_turn';
}

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

/** OpenAI usage as Anthropic's: cached prompt tokens are reported apart from the rest of the input. */
export function toUsage(usage: unknown): Usage {
  const u = (usage ?? {}) as { prompt_tokens?: number; completion_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } };
  const cached = u.prompt_tokens_details?.cached_tokens ?? 0;
  return { input_tokens: Math.max(0, (u.prompt_tokens ?? 0) - cached), output_tokens: u.completion_tokens ?? 0, cache_creation_input_tokens: 0, cache_read_input_tokens: cached };
}

/**
 * A whole chat completion (tool calls already merged: the server's and those parsed from the
 * content) as an Anthropic Message: thinking, text and tool_use blocks, the stop reason, usage,
 * and the model name the client asked for.
 */
export function toMessage(completion: Record<string, unknown>, model: string): Record<string, unknown> {
  const choice = ((completion.choices as Array<Record<string, unknown>> | undefined) ?? [])[0] ?? {};
  const message = (choice.message ?? {}) as Record<string, unknown>;
  const content: Array<Record<string, unknown>> = [];
  if (typeof message.reasoning === 'string' && message.reasoning) content.push({ type: 'thinking', thinking: message.reasoning, signature: '' });
  if (typeof message.content === 'string' && message.content) content.push({ type: 'text', text: message.content });
  for (const call of (message.tool_calls as Array<Record<string, unknown>> | undefined) ?? []) {
    const fn = (call.function ?? {}) as Record<string, unknown>;
    content.push({ type: 'tool_use', id: toToolUseId(call.id), name: fn.name, input: argumentsObject(fn.arguments) });
  }
  const stopSequence = typeof choice.stop_sequence === 'string' ? choice.stop_sequence : null;
  return {
    id: newMessageId(),
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: stopReason(choice.finish_reason, stopSequence),
    stop_sequence: stopSequence,
    usage: toUsage(completion.usage),
  };
}
