import { AnswerClock, answerEnd, answerLine, type AnswerPart, type OllamaRoute } from '../ollama/index.js';
import type { StreamChunk } from '../openai/answers.js';
import { chunkParts } from './chunk-parts.js';
import type { PublicErrorCode } from './errors.js';
import { wholeContent } from './merge.js';
import type { StreamFraming, WholeFraming } from './framing.js';

const line = (value: Record<string, unknown>) => `${JSON.stringify(value)}\n`;

/**
 * The answer as Ollama's stream: newline-delimited JSON, a line per piece of the answer
 * (`message` for a chat, `response` for a generate; thinking and whole tool calls in it), the last
 * with `done: true`, `done_reason`, the token counts and the times in nanoseconds. An error after
 * the stream began is a line `{"error": …}`, which the official client throws. NDJSON has no
 * comments: a prefill keepalive or a note is a line with empty content, which clients append as
 * nothing (an empty line would be "invalid json" to the official client).
 */
export class OllamaStreamFraming implements StreamFraming {
  readonly contentType = 'application/x-ndjson';
  #hasContent = false;
  #finishReason: unknown;
  #usage: unknown;
  #chunks = 0;
  #ended = false;

  constructor(
    readonly route: OllamaRoute,
    readonly model: string,
    /** Shared with a replay's framing: the times run from the first admission. */
    readonly clock = new AnswerClock(),
  ) {}

  get hasContent(): boolean {
    return this.#hasContent;
  }

  begin(): string {
    return '';
  }

  chunk(chunk: StreamChunk): string {
    const parts = chunkParts(chunk);
    if (parts.usage !== undefined) this.#usage = parts.usage;
    if (parts.finishReason !== undefined) this.#finishReason = parts.finishReason;
    const content = parts.content ?? '';
    const part: AnswerPart = { content, ...(parts.reasoning ? { thinking: parts.reasoning } : {}), ...(parts.calls.length > 0 ? { calls: parts.calls } : {}) };
    if (!content && !part.thinking && !part.calls) return '';
    if (content) this.#chunks++;
    this.#hasContent = true;
    this.clock.token();
    return line(answerLine(this.route, this.model, part));
  }

  comment(): string {
    return this.#keepalive();
  }

  done(): string {
    return '';
  }

  end(): string {
    if (this.#ended) return '';
    this.#ended = true;
    // Without a usage chunk (a stop sequence ends the answer before it), each content chunk is one token.
    return line({ ...answerLine(this.route, this.model, { content: '' }), ...answerEnd(this.#finishReason, this.#usage, this.clock, this.#chunks) });
  }

  error(_code: PublicErrorCode, message: string): string {
    return line({ error: message });
  }

  note(): string {
    return this.#keepalive();
  }

  again(): StreamFraming {
    return new OllamaStreamFraming(this.route, this.model, this.clock);
  }

  #keepalive(): string {
    return line(answerLine(this.route, this.model, { content: '' }));
  }
}

/** A whole answer as Ollama's one object: the answer and its last line's fields together. */
export class OllamaWholeFraming implements WholeFraming {
  readonly clock = new AnswerClock();

  constructor(
    readonly route: OllamaRoute,
    readonly model: string,
  ) {}

  body(completion: Record<string, unknown>): Record<string, unknown> {
    const choice = ((completion.choices as Array<Record<string, unknown>> | undefined) ?? [])[0] ?? {};
    const message = (choice.message ?? {}) as Record<string, unknown>;
    const calls = (message.tool_calls as Array<Record<string, unknown>> | undefined) ?? [];
    const part: AnswerPart = { content: wholeContent(completion), ...(typeof message.reasoning === 'string' && message.reasoning ? { thinking: message.reasoning } : {}), ...(calls.length > 0 ? { calls } : {}) };
    return { ...answerLine(this.route, this.model, part), ...answerEnd(choice.finish_reason, completion.usage, this.clock) };
  }
}
