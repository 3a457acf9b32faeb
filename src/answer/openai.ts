import type { StreamChunk } from '../openai/answers.js';
import { PUBLIC_ERRORS, type PublicErrorCode } from './errors.js';
import type { PortableFraming, StreamFraming, WholeFraming } from './framing.js';

export interface OpenAiFramingOptions {
  kind: 'chat' | 'text';
  /** The client's model name, echoed in every chunk. */
  model?: string;
  /** Whether the client asked for the usage chunk (mlx-guard always asks upstream). */
  wantsUsage: boolean;
}

/** OpenAI's chat and text completion streams: `data:` chunks, `[DONE]`, comments. */
export class OpenAiStreamFraming implements StreamFraming {
  #hasContent = false;

  constructor(readonly options: OpenAiFramingOptions) {}

  get portable(): PortableFraming {
    return { api: 'openai', ...this.options };
  }

  begin(): string {
    return '';
  }

  chunk(chunk: StreamChunk): string {
    if (this.options.model !== undefined) chunk.model = this.options.model;
    const usageOnly = Array.isArray(chunk.choices) && chunk.choices.length === 0;
    if (usageOnly && !this.options.wantsUsage) return '';
    this.#hasContent = true;
    return `data: ${JSON.stringify(chunk)}\n\n`;
  }

  comment(text: string): string {
    // Keepalive comments are not content: a stream that has sent only those can still be replayed.
    return `: ${text}\n\n`;
  }

  done(): string {
    this.#hasContent = true;
    return 'data: [DONE]\n\n';
  }

  end(): string {
    return '';
  }

  error(code: PublicErrorCode, message: string): string {
    // Said in the stream, which then ends without [DONE], as a cut stream looks.
    return `data: ${JSON.stringify({ error: { message, type: PUBLIC_ERRORS[code].type, code } })}\n\n`;
  }

  note(text: string): string {
    return `: mlx-guard: ${text}\n\n`;
  }

  get hasContent(): boolean {
    return this.#hasContent;
  }

  again(): StreamFraming {
    return new OpenAiStreamFraming(this.options);
  }
}

/** OpenAI's whole completion: the model server's, with the client's model name. */
export class OpenAiWholeFraming implements WholeFraming {
  constructor(readonly model: string | undefined) {}

  body(completion: Record<string, unknown>): Record<string, unknown> {
    if (this.model !== undefined) completion.model = this.model;
    return completion;
  }
}
