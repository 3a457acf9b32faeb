import { mergeToolCalls, ServerToolCalls, type ParsedContent, type StreamChunk } from '../openai/index.js';
import { newMessageId, stopReason, toToolUseId, toUsage, type StopReason, type Usage } from './message.js';

const event = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

type Open = { kind: 'text' | 'thinking'; index: number } | undefined;

/**
 * The model server's chat chunks as an Anthropic message stream, in the order the SDK's
 * assembler and Claude Code require: `message_start` (with `content: []` and `usage`), for each
 * block `content_block_start`, its deltas, `content_block_stop` (indexes in start order, one
 * block open at a time), then `message_delta` (stop reason and usage) and `message_stop`.
 * Thinking comes from the `reasoning` field; a tool call arrives whole, so it is one block with
 * one `input_json_delta`.
 */
export class AnthropicStream {
  readonly id = newMessageId();
  #open: Open;
  #blocks = 0;
  #finishReason: unknown;
  #stopSequence: string | null = null;
  #usage: Usage | undefined;
  #chunks = 0;
  #sawToolUse = false;
  #ended = false;
  readonly #serverCalls = new ServerToolCalls();

  constructor(readonly model: string) {}

  /** Whether a content block has begun (then the answer cannot be started again). */
  get hasContent(): boolean {
    return this.#blocks > 0;
  }

  get sawFinish(): boolean {
    return this.#finishReason !== undefined;
  }

  start(): string {
    const usage = { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    return event('message_start', { message: { id: this.id, type: 'message', role: 'assistant', model: this.model, content: [], stop_reason: null, stop_sequence: null, usage } });
  }

  ping(): string {
    return event('ping', {});
  }

  /** The events for one chunk; `parsed` replaces its content when tool calls were parsed out of it. */
  chunk(chunk: StreamChunk, parsed: ParsedContent | undefined): string {
    if (chunk.usage !== undefined && chunk.usage !== null) this.#usage = toUsage(chunk.usage);
    const choice = ((chunk.choices as Array<Record<string, unknown>> | undefined) ?? [])[0];
    if (!choice) return '';
    const delta = (choice.delta ?? {}) as Record<string, unknown>;
    let out = '';
    if (typeof delta.reasoning === 'string' && delta.reasoning) out += this.#delta('thinking', { type: 'thinking_delta', thinking: delta.reasoning });
    const finishing = choice.finish_reason !== null && choice.finish_reason !== undefined;
    const merged = mergeToolCalls(this.#serverCalls.take(delta.tool_calls, finishing), typeof delta.content === 'string' ? delta.content : undefined, parsed);
    if (merged.content) {
      this.#chunks++;
      out += this.#delta('text', { type: 'text_delta', text: merged.content });
    }
    for (const call of merged.calls) {
      this.#sawToolUse = true;
      out += this.#close();
      const fn = (call.function ?? {}) as Record<string, unknown>;
      const index = this.#blocks++;
      out += event('content_block_start', { index, content_block: { type: 'tool_use', id: toToolUseId(call.id), name: fn.name, input: {} } });
      out += event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: typeof fn.arguments === 'string' ? fn.arguments : JSON.stringify(fn.arguments ?? {}) } });
      out += event('content_block_stop', { index });
    }
    if (finishing) {
      this.#finishReason = choice.finish_reason;
      if (typeof choice.stop_sequence === 'string') this.#stopSequence = choice.stop_sequence;
    }
    return out;
  }

  /** The events that end the message once the answer is complete. */
  end(): string {
    if (this.#ended) return '';
    this.#ended = true;
    const reason: StopReason = stopReason(this.#sawToolUse ? 'tool_calls' : this.#finishReason, this.#stopSequence);
    // Without a usage chunk (a stop sequence ends the answer before it), each content chunk is one token.
    const usage = this.#usage ?? { input_tokens: 0, output_tokens: this.#chunks, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    return this.#close() + event('message_delta', { delta: { stop_reason: reason, stop_sequence: this.#stopSequence }, usage }) + event('message_stop', {});
  }

  /** An error after the stream began: Anthropic's `error` event (the stream ends there). */
  error(type: string, message: string): string {
    return this.#close() + event('error', { error: { type, message } });
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
