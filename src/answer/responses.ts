import type { StreamChunk } from '../openai/answers.js';
import { messageItem, outputText, reasoningItem, reasoningText, toResponse, toUsage, type OutputItem, type ResponseShape, type ResponsesUsage } from '../responses/index.js';
import { chunkParts } from './chunk-parts.js';
import type { PublicErrorCode } from './errors.js';
import type { StreamFraming, WholeFraming } from './framing.js';

/** The two kinds of item whose text streams, and their builders and events. */
const TEXT_ITEMS = {
  message: { item: messageItem, part: outputText, events: 'response.output_text', extra: { logprobs: [] } },
  reasoning: { item: reasoningItem, part: reasoningText, events: 'response.reasoning_text', extra: {} },
} as const;

type Open = { kind: keyof typeof TEXT_ITEMS; index: number; id: string; text: string } | undefined;

/**
 * The answer as a Responses API event stream, in the order the SDK's stream helper assembles and
 * Codex reads: `response.created` and `response.in_progress`; for each output item
 * `response.output_item.added`, its part and deltas (`output_text`, `reasoning_text`, a call's
 * arguments or a freeform tool's input), their `.done` events and `response.output_item.done`;
 * then `response.completed` (`response.incomplete` when `max_output_tokens` ran out) with the
 * whole response, or `response.failed` when the model server failed after the stream began. Every
 * event carries its `sequence_number`. A tool call arrives whole (merged): one delta.
 */
export class ResponsesStreamFraming implements StreamFraming {
  #sequence: number;
  readonly #output: OutputItem[] = [];
  #open: Open;
  #usage: ResponsesUsage | undefined;
  #finishReason: unknown;
  #chunks = 0;
  #ended = false;
  /** Whether `begin` gave its events: a keepalive before it opens the stream itself, numbered after them. */
  #opened = false;

  constructor(
    readonly shape: ResponseShape,
    /** A replay's framing: the response began in an attempt before, whose events were numbered up to here. */
    readonly begun = false,
    firstSequence = 0,
  ) {
    this.#sequence = firstSequence;
  }

  get hasContent(): boolean {
    return this.#output.length > 0 || this.#open !== undefined;
  }

  begin(): string {
    if (this.begun || this.#opened) return '';
    this.#opened = true;
    const response = this.shape.envelope('in_progress', []);
    return this.#event('response.created', { response }) + this.#event('response.in_progress', { response });
  }

  /**
   * The model server's prefill keepalive: the comment as it came, and a `keepalive` event. Codex
   * times a stream out after `stream_idle_timeout_ms` (300 s) without an event, and comments are
   * no event to it: a long prefill was cut. It ignores event types it does not know, as the SDK
   * does, so this one only resets its clock.
   */
  comment(text: string): string {
    const opening = this.begin();
    return `${opening}: ${text}\n\n${this.#event('keepalive', {})}`;
  }

  done(): string {
    return '';
  }

  chunk(chunk: StreamChunk): string {
    const parts = chunkParts(chunk);
    if (parts.usage !== undefined) this.#usage = toUsage(parts.usage);
    let out = '';
    if (parts.reasoning) out += this.#delta('reasoning', parts.reasoning);
    if (parts.content) {
      this.#chunks++;
      out += this.#delta('message', parts.content);
    }
    for (const call of parts.calls) out += this.#close() + this.#call(this.shape.callItem(call));
    if (parts.finishReason !== undefined) this.#finishReason = parts.finishReason;
    return out;
  }

  end(): string {
    if (this.#ended) return '';
    this.#ended = true;
    // Without a usage chunk (a stop sequence ends the answer before it), each content chunk is one token.
    const usage = this.#usage ?? toUsage({ completion_tokens: this.#chunks });
    const incomplete = this.#finishReason === 'length';
    const closed = this.#close();
    const response = this.shape.envelope(incomplete ? 'incomplete' : 'completed', this.#output, { usage });
    this.shape.keep(response);
    return closed + this.#event(incomplete ? 'response.incomplete' : 'response.completed', { response });
  }

  error(code: PublicErrorCode, message: string): string {
    const closed = this.#close();
    return closed + this.#event('response.failed', { response: this.shape.envelope('failed', this.#output, { error: { code, message } }) });
  }

  note(text: string): string {
    return `: mlx-guard: ${text}\n\n`;
  }

  again(): StreamFraming {
    return new ResponsesStreamFraming(this.shape, true, this.#sequence);
  }

  #event(type: string, data: Record<string, unknown>): string {
    return `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: this.#sequence++, ...data })}\n\n`;
  }

  #delta(kind: keyof typeof TEXT_ITEMS, text: string): string {
    const { item, part, events, extra } = TEXT_ITEMS[kind];
    let out = '';
    if (this.#open?.kind !== kind) {
      out += this.#close();
      const added = item('', 'in_progress');
      const index = this.#output.length;
      this.#open = { kind, index, id: added.id, text: '' };
      out += this.#event('response.output_item.added', { output_index: index, item: added });
      out += this.#event('response.content_part.added', { item_id: added.id, output_index: index, content_index: 0, part: part('') });
    }
    const open = this.#open!;
    open.text += text;
    return out + this.#event(`${events}.delta`, { item_id: open.id, output_index: open.index, content_index: 0, delta: text, ...extra });
  }

  #close(): string {
    const open = this.#open;
    if (!open) return '';
    this.#open = undefined;
    const { item, part, events, extra } = TEXT_ITEMS[open.kind];
    const where = { item_id: open.id, output_index: open.index, content_index: 0 };
    const done: OutputItem = { ...item(open.text), id: open.id };
    this.#output.push(done);
    return (
      this.#event(`${events}.done`, { ...where, text: open.text, ...extra }) +
      this.#event('response.content_part.done', { ...where, part: part(open.text) }) +
      this.#event('response.output_item.done', { output_index: open.index, item: done })
    );
  }

  /** A whole call: added with empty arguments (or input), its one delta, done. */
  #call(item: OutputItem): string {
    const index = this.#output.length;
    this.#output.push(item);
    const custom = item.type === 'custom_tool_call';
    const text = String(custom ? item.input : item.arguments);
    const where = { item_id: item.id, output_index: index };
    const added = this.#event('response.output_item.added', { output_index: index, item: { ...item, status: 'in_progress', ...(custom ? { input: '' } : { arguments: '' }) } });
    const streamed = custom
      ? this.#event('response.custom_tool_call_input.delta', { ...where, delta: text }) + this.#event('response.custom_tool_call_input.done', { ...where, input: text })
      : this.#event('response.function_call_arguments.delta', { ...where, delta: text }) + this.#event('response.function_call_arguments.done', { ...where, name: item.name, arguments: text });
    return added + streamed + this.#event('response.output_item.done', { output_index: index, item });
  }
}

/** A whole answer as a Responses API `response` object. */
export class ResponsesWholeFraming implements WholeFraming {
  constructor(readonly shape: ResponseShape) {}

  body(completion: Record<string, unknown>): Record<string, unknown> {
    const response = toResponse(completion, this.shape);
    this.shape.keep(response);
    return response;
  }
}
