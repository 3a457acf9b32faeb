import { newMessageId, stopReason, toMessage, toToolUseId, toUsage, type StopReason, type Usage } from '../anthropic/index.js';
import type { StreamChunk } from '../openai/answers.js';
import { chunkParts } from './chunk-parts.js';
import { PUBLIC_ERRORS, type PublicErrorCode } from './errors.js';
import type { StreamFraming, WholeFraming } from './framing.js';

/**
 * A public error code as Anthropic's status and type, by rule rather than a second table.
 * Everything that means "not now, retry" (503) is 529 `overloaded_error`, which the SDK and
 * Claude Code retry (with `Retry-After`); Anthropic has no 422, so a poison request is a 400.
 */
export function anthropicError(code: PublicErrorCode): { status: number | 'upstream'; type: string } {
  const { status } = PUBLIC_ERRORS[code];
  if (typeof status !== 'number') return { status: 'upstream', type: 'invalid_request_error' };
  if (status === 503) return { status: 529, type: 'overloaded_error' };
  if (status === 504) return { status, type: 'timeout_error' };
  if (status >= 500) return { status: 500, type: 'api_error' };
  if (status === 413) return { status, type: 'request_too_large' };
  const type = ANTHROPIC_CLIENT_ERRORS[status] ?? 'invalid_request_error';
  return { status: status === 422 ? 400 : status, type };
}

const ANTHROPIC_CLIENT_ERRORS: Partial<Record<number, string>> = { 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error' };

const event = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

type Open = { kind: 'text' | 'thinking'; index: number } | undefined;

/**
 * The answer as an Anthropic message stream, in the order the SDK's assembler and Claude Code
 * require: `message_start` (with `content: []` and `usage`), for each block
 * `content_block_start`, its deltas, `content_block_stop` (indexes in start order, one block open
 * at a time), then `message_delta` (stop reason and usage) and `message_stop`. Thinking comes from
 * the `reasoning` field; a tool call arrives whole (merged), so it is one block with one
 * `input_json_delta`. The model server's keepalive comments become pings, so that a client does
 * not give up on a long prompt.
 */
export class AnthropicStreamFraming implements StreamFraming {
  readonly id = newMessageId();
  #open: Open;
  #blocks = 0;
  #finishReason: unknown;
  #stopSequence: string | null = null;
  #usage: Usage | undefined;
  #chunks = 0;
  #ended = false;

  constructor(
    readonly model: string,
    /** A replay's framing: the message began in an attempt before. */
    readonly begun = false,
  ) {}

  /** Whether a content block has begun (then the answer cannot be started again). */
  get hasContent(): boolean {
    return this.#blocks > 0;
  }

  begin(): string {
    if (this.begun) return '';
    const usage = { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    return event('message_start', { message: { id: this.id, type: 'message', role: 'assistant', model: this.model, content: [], stop_reason: null, stop_sequence: null, usage } });
  }

  comment(): string {
    return this.#ping();
  }

  done(): string {
    // The end of the message is `end`'s, once the answer is known to be complete.
    return '';
  }

  chunk(chunk: StreamChunk): string {
    const parts = chunkParts(chunk);
    if (parts.usage !== undefined) this.#usage = toUsage(parts.usage);
    let out = '';
    if (parts.reasoning) out += this.#delta('thinking', { type: 'thinking_delta', thinking: parts.reasoning });
    if (parts.content) {
      this.#chunks++;
      out += this.#delta('text', { type: 'text_delta', text: parts.content });
    }
    for (const call of parts.calls) {
      out += this.#close();
      const fn = (call.function ?? {}) as Record<string, unknown>;
      const index = this.#blocks++;
      out += event('content_block_start', { index, content_block: { type: 'tool_use', id: toToolUseId(call.id), name: fn.name, input: {} } });
      out += event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: typeof fn.arguments === 'string' ? fn.arguments : JSON.stringify(fn.arguments ?? {}) } });
      out += event('content_block_stop', { index });
    }
    if (parts.finishReason !== undefined) {
      this.#finishReason = parts.finishReason;
      if (parts.stopSequence !== undefined) this.#stopSequence = parts.stopSequence;
    }
    return out;
  }

  end(): string {
    if (this.#ended) return '';
    this.#ended = true;
    const reason: StopReason = stopReason(this.#finishReason, this.#stopSequence);
    // Without a usage chunk (a stop sequence ends the answer before it), each content chunk is one token.
    const usage = this.#usage ?? { input_tokens: 0, output_tokens: this.#chunks, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    return this.#close() + event('message_delta', { delta: { stop_reason: reason, stop_sequence: this.#stopSequence }, usage }) + event('message_stop', {});
  }

  error(code: PublicErrorCode, message: string): string {
    return this.#close() + event('error', { error: { type: anthropicError(code).type, message } });
  }

  note(text: string): string {
    return `: mlx-guard: ${text}\n\n${this.#ping()}`;
  }

  again(): StreamFraming {
    return new AnthropicStreamFraming(this.model, true);
  }

  #ping(): string {
    return event('ping', {});
  }

  #delta(kind: 'text' | 'thinking', delta: Record<string, unknown>): string {
    let out = '';
    if (this.#open?.kind !== kind) {
      out += this.#close();
      const index = this.#blocks++;
      this.#open = { kind, index };
      out += event('content_block_start', { index, content_block: kind === 'text' ? { type: 'text', text: '' } : { type: 'thinking', thinking: '', signature: '' } });
    }
    return out + event('content_block_delta', { index: this.#open.index, delta });
  }

  #close(): string {
    const open = this.#open;
    if (!open) return '';
    this.#open = undefined;
    return event('content_block_stop', { index: open.index });
  }
}

/** A whole answer as an Anthropic Message. */
export class AnthropicWholeFraming implements WholeFraming {
  constructor(readonly model: string) {}

  body(completion: Record<string, unknown>): Record<string, unknown> {
    return toMessage(completion, this.model);
  }
}

/** `count_tokens`: the one-token completion's usage as the prompt's count. */
export const countTokensFraming: WholeFraming = {
  body(completion) {
    const usage = (completion.usage ?? {}) as { prompt_tokens?: number };
    return { input_tokens: usage.prompt_tokens ?? 0 };
  },
};
