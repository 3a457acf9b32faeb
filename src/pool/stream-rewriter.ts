import { asToolCall, normaliseToolCall, parserRegistry, type StreamingToolCallParser, type ToolCall, type ToolDefinition } from '../tools/index.js';
import type { SseEvent } from '../upstream/index.js';

type Chunk = Record<string, unknown> & { choices?: Array<Record<string, unknown>> };

export interface RewriteOptions {
  kind: 'chat' | 'text';
  /** The client's model name, echoed in every chunk. */
  model?: string;
  /** Whether the client asked for the usage chunk (mlx-guard always asks upstream). */
  wantsUsage: boolean;
  /** Declared tools, when tool calls in the content are to be parsed (absent: passed through). */
  tools?: ToolDefinition[];
}

/**
 * Turns the model server's SSE events into the client's: the client's model name, the usage chunk
 * only if asked, tool calls the server left in the content parsed and sent whole, ids and argument
 * strings normalised, `finish_reason` set to `tool_calls` when calls went out. Pure and
 * per-request, so it runs in the inference worker beside the upstream call.
 */
export class StreamRewriter {
  #parser: StreamingToolCallParser | undefined;
  #toolIndex = 0;
  sawFinish = false;
  /** The finish reason said tool_calls but no call came: the server's parser dropped it. */
  lostCall = false;
  /** Why parsing stopped mid-stream (the rest passed through), if it did. */
  parseError: string | undefined;

  constructor(readonly options: RewriteOptions) {
    if (options.kind === 'chat' && options.tools && options.tools.length > 0) this.#parser = parserRegistry.createStreamParser({ tools: options.tools });
  }

  /** The SSE text for one upstream event ('' when nothing goes to the client). */
  rewrite(event: SseEvent): string {
    if (event.type === 'comment') return `: ${event.text}\n\n`;
    if (event.type === 'done') return 'data: [DONE]\n\n';
    const chunk = JSON.parse(event.data) as Chunk;
    if (this.options.model !== undefined) chunk.model = this.options.model;
    if (Array.isArray(chunk.choices) && chunk.choices.length === 0) return this.options.wantsUsage ? frame(chunk) : '';
    const choice = chunk.choices?.[0];
    const delta = choice?.delta as Record<string, unknown> | undefined;
    if (this.options.kind !== 'chat' || !choice || !delta) return frame(chunk);
    const calls = ((delta.tool_calls as Array<Record<string, unknown>> | undefined) ?? []).map(normaliseToolCall);
    let content = typeof delta.content === 'string' ? delta.content : undefined;
    const finishing = choice.finish_reason !== null && choice.finish_reason !== undefined;
    if (this.#parser) {
      try {
        let released = content === undefined ? { content: '', calls: [] as ToolCall[] } : this.#parser.push(content);
        if (finishing) {
          const last = this.#parser.end();
          released = { content: released.content + last.content, calls: [...released.calls, ...last.calls] };
        }
        content = released.content || undefined;
        calls.push(...released.calls.map(asToolCall));
      } catch (error) {
        // A parser failure must not cost the answer: the rest of the stream passes through.
        this.parseError = (error as Error).message ?? String(error);
        this.#parser = undefined;
      }
    }
    const out: Record<string, unknown> = { ...delta };
    delete out.content;
    delete out.tool_calls;
    if (content !== undefined) out.content = content;
    if (calls.length > 0) out.tool_calls = calls.map((call) => ({ ...call, index: this.#toolIndex++ }));
    if (finishing) {
      this.sawFinish = true;
      if (this.#toolIndex > 0) choice.finish_reason = 'tool_calls';
      else if (choice.finish_reason === 'tool_calls') this.lostCall = true;
    }
    if (!finishing && content === undefined && calls.length === 0 && delta.reasoning === undefined) return '';
    choice.delta = out;
    return frame(chunk);
  }
}

const frame = (chunk: unknown) => `data: ${JSON.stringify(chunk)}\n\n`;
