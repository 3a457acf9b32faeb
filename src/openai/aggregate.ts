import type { SseEvent } from '../upstream/index.js';
import { ServerToolCalls } from './tool-calls.js';

/** A streamed chat or text completion put back together as the non-streaming response. */
export class CompletionAggregator {
  #envelope: { id?: unknown; model?: unknown; system_fingerprint?: unknown; created?: unknown } = {};
  #content = '';
  #reasoning = '';
  readonly #toolCalls: Array<Record<string, unknown>> = [];
  /** A call streamed in pieces is joined into one, as the server's whole answer would hold it. */
  readonly #serverCalls = new ServerToolCalls();
  #finishReason: unknown = null;
  #stopSequence: unknown;
  /** Chunks that carried text: one token each from mlx_lm.server, the count when no usage came. */
  #textChunks = 0;
  #usage: unknown;

  constructor(
    readonly kind: 'chat' | 'text',
    /** The model name when the server's chunks carry none. */
    readonly model: string,
  ) {}

  /** One parsed `data:` payload of the stream. */
  add(chunk: Record<string, unknown>): void {
    if (this.#envelope.id === undefined) this.#envelope = { id: chunk.id, model: chunk.model, system_fingerprint: chunk.system_fingerprint, created: chunk.created };
    if (chunk.usage !== undefined) this.#usage = chunk.usage;
    const choice = (chunk.choices as Array<Record<string, unknown>> | undefined)?.[0];
    if (!choice) return;
    if (choice.finish_reason !== null && choice.finish_reason !== undefined) this.#finishReason = choice.finish_reason;
    if (typeof choice.stop_sequence === 'string') this.#stopSequence = choice.stop_sequence;
    if (this.kind === 'text') {
      if (typeof choice.text === 'string' && choice.text) {
        this.#content += choice.text;
        this.#textChunks++;
      }
      return;
    }
    const delta = (choice.delta ?? {}) as Record<string, unknown>;
    if (typeof delta.content === 'string' && delta.content) {
      this.#content += delta.content;
      this.#textChunks++;
    }
    if (typeof delta.reasoning === 'string') this.#reasoning += delta.reasoning;
    this.#toolCalls.push(...this.#serverCalls.take(delta.tool_calls, false));
  }

  result(): Record<string, unknown> {
    const choice: Record<string, unknown> = { index: 0, finish_reason: this.#finishReason, ...(this.#stopSequence !== undefined ? { stop_sequence: this.#stopSequence } : {}) };
    if (this.kind === 'text') {
      choice.text = this.#content;
    } else {
      const message: Record<string, unknown> = { role: 'assistant', content: this.#content || null };
      if (this.#reasoning) message.reasoning = this.#reasoning;
      this.#toolCalls.push(...this.#serverCalls.take([], true));
      if (this.#toolCalls.length > 0) message.tool_calls = this.#toolCalls;
      choice.message = message;
    }
    return {
      id: this.#envelope.id,
      system_fingerprint: this.#envelope.system_fingerprint,
      object: this.kind === 'chat' ? 'chat.completion' : 'text_completion',
      // As the stream names it, as the server would have answered whole.
      model: typeof this.#envelope.model === 'string' ? this.#envelope.model : this.model,
      created: this.#envelope.created,
      choices: [choice],
      // A stop sequence mlx-guard matched ends the answer before the server's usage chunk.
      ...(this.#usage !== undefined ? { usage: this.#usage } : this.#stopSequence !== undefined ? { usage: { completion_tokens: this.#textChunks } } : {}),
    };
  }
}

/**
 * A whole response as the stream events that would have carried it: the server answers whole when
 * logprobs are asked for, and a streaming client still expects a stream.
 */
export function wholeAsEvents(body: Record<string, unknown>, kind: 'chat' | 'text'): SseEvent[] {
  const choices = ((body.choices as Array<Record<string, unknown>> | undefined) ?? []).map((choice) => {
    if (kind === 'text') return choice;
    const { message, ...rest } = choice;
    return { ...rest, delta: { role: 'assistant', ...((message as Record<string, unknown> | undefined) ?? {}) } };
  });
  const { usage, ...head } = body;
  const object = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  const events: SseEvent[] = [{ type: 'data', data: JSON.stringify({ ...head, object, choices }) }];
  if (usage !== undefined) events.push({ type: 'data', data: JSON.stringify({ ...head, object, choices: [], usage }) });
  events.push({ type: 'done' });
  return events;
}
