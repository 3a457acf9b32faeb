import type { SseEvent } from '../upstream/index.js';
import { mergeToolCalls, ServerToolCalls, type ParsedContent } from './tool-calls.js';

/** One data event of the stream, parsed. */
export type StreamChunk = Record<string, unknown>;

/** A chat chunk with a choice and a delta: the part of a stream whose content tool parsing may change. */
export type ChatChunk = StreamChunk & { choices: [Record<string, unknown> & { delta: Record<string, unknown> }, ...unknown[]] };

export function isChatChunk(chunk: StreamChunk): chunk is ChatChunk {
  const choice = (chunk.choices as unknown[] | undefined)?.[0] as Record<string, unknown> | undefined;
  return typeof choice?.delta === 'object' && choice.delta !== null;
}

export interface StreamOptions {
  kind: 'chat' | 'text';
  /** The client's model name, echoed in every chunk. */
  model?: string;
  /** Whether the client asked for the usage chunk (mlx-guard always asks upstream). */
  wantsUsage: boolean;
  /** Every data event comes back from `shape` as an object (another protocol frames it), not only chat chunks. */
  structured?: boolean;
}

const frame = (chunk: unknown) => `data: ${JSON.stringify(chunk)}\n\n`;

/**
 * Turns the model server's SSE events into the client's, in two steps. `shape` (stateless) gives
 * each event's SSE text: the client's model name, the usage chunk only if asked, comments and
 * [DONE] as they are; a chat chunk with a delta comes back as an object instead, for `finish`.
 * `finish` merges the delta's tool calls (the server's normalised, those parsed out of its
 * content by the caller, numbered in order), sets `finish_reason` to `tool_calls` when calls went
 * out, and frames it. Split so that the transport thread can shape while tool parsing, which
 * may be slow, runs elsewhere.
 */
export class StreamShaper {
  #toolIndex = 0;
  readonly #serverCalls = new ServerToolCalls();
  sawFinish = false;
  /** The finish reason said tool_calls but no call came: the server's parser dropped it. */
  lostCall = false;
  /** Output tokens, once the usage chunk came. */
  completionTokens = 0;

  constructor(readonly options: StreamOptions) {}

  /** The SSE text of one upstream event ('' when nothing goes to the client), or a chunk to `finish` (every chunk, when `structured`). */
  shape(event: SseEvent): string | StreamChunk {
    if (event.type === 'comment') return `: ${event.text}\n\n`;
    if (event.type === 'done') return 'data: [DONE]\n\n';
    const chunk = JSON.parse(event.data) as StreamChunk & { choices?: unknown[]; usage?: { completion_tokens?: unknown } };
    if (this.options.model !== undefined) chunk.model = this.options.model;
    if (typeof chunk.usage?.completion_tokens === 'number') this.completionTokens = chunk.usage.completion_tokens;
    if (this.options.structured) return chunk;
    return this.options.kind === 'chat' && isChatChunk(chunk) ? chunk : this.#frameOther(chunk);
  }

  /** A chunk with nothing for tool calls to change: framed as it is; the usage chunk only if the client asked for it. */
  #frameOther(chunk: StreamChunk): string {
    const usageOnly = Array.isArray(chunk.choices) && chunk.choices.length === 0;
    return usageOnly && !this.options.wantsUsage ? '' : frame(chunk);
  }

  /** A chat chunk's text content, for tool parsing. */
  static content(chunk: StreamChunk): string | undefined {
    const content = isChatChunk(chunk) ? chunk.choices[0].delta.content : undefined;
    return typeof content === 'string' ? content : undefined;
  }

  /** Whether this chunk ends the answer (then parsing must be ended with it). */
  static finishes(chunk: StreamChunk): boolean {
    const reason = isChatChunk(chunk) ? chunk.choices[0].finish_reason : undefined;
    return reason !== null && reason !== undefined;
  }

  /** The SSE text of a chunk, a chat chunk's content replaced by `parsed` when it was parsed ('' when nothing is left to send). */
  finish(chunk: StreamChunk, parsed?: ParsedContent): string {
    if (!isChatChunk(chunk)) return this.#frameOther(chunk);
    const choice = chunk.choices[0];
    const { tool_calls: serverCalls, content: _content, ...rest } = choice.delta;
    const finishing = StreamShaper.finishes(chunk);
    const merged = mergeToolCalls(this.#serverCalls.take(serverCalls, finishing), StreamShaper.content(chunk), parsed);
    const delta: Record<string, unknown> = rest;
    if (merged.content !== undefined) delta.content = merged.content;
    if (merged.calls.length > 0) delta.tool_calls = merged.calls.map((call) => ({ ...call, index: this.#toolIndex++ }));
    if (finishing) {
      this.sawFinish = true;
      if (this.#toolIndex > 0) choice.finish_reason = 'tool_calls';
      else if (choice.finish_reason === 'tool_calls') this.lostCall = true;
    }
    if (!finishing && merged.content === undefined && merged.calls.length === 0 && delta.reasoning === undefined) return '';
    choice.delta = delta;
    return frame(chunk);
  }
}
