import { chatRequest, completionRequest, describeIssue, sanitizeRequest, shapeWhole, StreamShaper, unreadFields, type ParsedContent, type StreamChunk, type StreamOptions } from '../../openai/index.js';
import type { ToolDefinition } from '../../tools/index.js';
import { PUBLIC_ERRORS, type PublicErrorCode } from '../errors.js';
import { StreamResponder, WholeResponder } from '../responders.js';
import { sendError } from '../responses.js';
import type { Api, StreamFormat, WholeFormat } from './api.js';

/** OpenAI's chat completions (`/v1/chat/completions`) or text completions (`/v1/completions`), as mlx_lm.server serves them. */
export function openAiApi(kind: 'chat' | 'text'): Api {
  const schema = kind === 'chat' ? chatRequest : completionRequest;
  return {
    name: kind === 'chat' ? 'openai_chat' : 'openai_text',
    sendError,
    read(raw, { modelAllowed }) {
      const parsed = schema.safeParse(raw);
      if (!parsed.success) return { invalid: describeIssue(parsed.error) };
      const upstream = sanitizeRequest(parsed.data, modelAllowed);
      const tools = (kind === 'chat' ? (parsed.data as { tools?: ToolDefinition[] | null }).tools : undefined) ?? [];
      const model = upstream.clientModel;
      return {
        upstream,
        dropped: unreadFields(schema, raw),
        upstreamPath: kind === 'chat' ? '/v1/chat/completions' : '/v1/completions',
        responder: (res, deps) =>
          upstream.clientStreams
            ? new StreamResponder(res, new OpenAiStreamFormat({ kind, wantsUsage: upstream.clientWantsUsage, ...(model !== undefined ? { model } : {}) }, tools.length > 0), tools, sendError, deps)
            : new WholeResponder(res, new OpenAiWholeFormat({ kind, ...(model !== undefined ? { model } : {}) }), kind, tools, sendError, deps),
      };
    },
  };
}

/** OpenAI's chat and text completion streams: `data:` chunks, `[DONE]`, comments. */
export class OpenAiStreamFormat implements StreamFormat {
  readonly framedByWorker: boolean;
  readonly #shaper: StreamShaper;
  #hasContent = false;

  constructor(
    readonly shaping: StreamOptions,
    parsesTools: boolean,
  ) {
    this.framedByWorker = !parsesTools;
    this.#shaper = new StreamShaper(shaping);
  }

  begin(): string {
    return '';
  }

  text(text: string): string {
    // Keepalive comments are not content: a stream that has sent only those can still be replayed.
    if (!this.#hasContent && text.includes('data:')) this.#hasContent = true;
    return text;
  }

  chunk(chunk: StreamChunk, parsed: ParsedContent | undefined): string {
    return this.text(this.#shaper.finish(chunk, parsed));
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

  get sawFinish(): boolean {
    return this.#shaper.sawFinish;
  }

  get lostCall(): boolean {
    return this.#shaper.lostCall;
  }

  again(): StreamFormat {
    return new OpenAiStreamFormat(this.shaping, !this.framedByWorker);
  }
}

export class OpenAiWholeFormat implements WholeFormat {
  constructor(readonly options: { kind: 'chat' | 'text'; model?: string }) {}

  shape(body: Record<string, unknown>, parsed: ParsedContent | undefined): { body: Record<string, unknown>; lostCall: boolean } {
    return shapeWhole(body, this.options, parsed);
  }
}
