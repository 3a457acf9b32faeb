import { isChatChunk, mergeToolCalls, ServerToolCalls, type ParsedContent, type StreamChunk } from '../openai/answers.js';

/** The chat chunk's choice, when it has one with a delta. */
const chatChoice = (chunk: StreamChunk) => (isChatChunk(chunk) ? chunk.choices[0] : undefined);

/** The chunk's finish reason (chat or text), when it ends the answer. */
function finishReason(chunk: StreamChunk): unknown {
  const choice = (chunk.choices as Array<Record<string, unknown>> | undefined)?.[0];
  return choice?.finish_reason ?? undefined;
}

/**
 * One streamed answer's state, kept in one place on whichever thread runs its pipeline: the
 * model server's tool calls made whole, the calls parsed out of its content merged in and
 * numbered in order, the finish reason set to `tool_calls` when calls went out, and what the
 * answer showed (a finish, a lost call, its output tokens). Works on the model server's chunks as
 * OpenAI shapes them; each API's framing then writes the merged chunk in its own protocol.
 */
export class AnswerMerge {
  #toolIndex = 0;
  readonly #serverCalls = new ServerToolCalls();
  sawFinish = false;
  /** The finish reason said tool_calls but no call came: the server's parser dropped it. */
  lostCall = false;
  /** Output tokens, once the usage chunk came. */
  completionTokens = 0;

  /** A chat chunk's text content, for tool parsing. */
  static content(chunk: StreamChunk): string | undefined {
    const content = chatChoice(chunk)?.delta.content;
    return typeof content === 'string' ? content : undefined;
  }

  /** Whether this chunk ends the answer (then parsing must be ended with it). */
  static finishes(chunk: StreamChunk): boolean {
    return finishReason(chunk) !== undefined;
  }

  /**
   * The chunk with its tool calls merged (a chat chunk's content replaced by `parsed` when it was
   * parsed), or undefined when nothing is left of it for the client. The chunk is changed in place.
   */
  chunk(chunk: StreamChunk, parsed?: ParsedContent): StreamChunk | undefined {
    const usage = chunk.usage as { completion_tokens?: unknown } | undefined | null;
    if (typeof usage?.completion_tokens === 'number') this.completionTokens = usage.completion_tokens;
    const finishing = AnswerMerge.finishes(chunk);
    if (finishing) this.sawFinish = true;
    const choice = chatChoice(chunk);
    if (!choice) return chunk;
    const { tool_calls: serverCalls, content, ...rest } = choice.delta;
    const merged = mergeToolCalls(this.#serverCalls.take(serverCalls, finishing), typeof content === 'string' ? content : undefined, parsed);
    const delta: Record<string, unknown> = rest;
    if (merged.content !== undefined) delta.content = merged.content;
    if (merged.calls.length > 0) delta.tool_calls = merged.calls.map((call) => ({ ...call, index: this.#toolIndex++ }));
    if (finishing) {
      if (this.#toolIndex > 0) choice.finish_reason = 'tool_calls';
      else if (choice.finish_reason === 'tool_calls') this.lostCall = true;
    }
    if (!finishing && merged.content === undefined && merged.calls.length === 0 && delta.reasoning === undefined) return undefined;
    choice.delta = delta;
    return chunk;
  }
}

type Completion = Record<string, unknown> & { choices?: Array<Record<string, unknown>> };

/** The text of a whole answer: a chat message's content (what tool parsing reads), or a text completion's text ('' for none). */
export function wholeContent(completion: Record<string, unknown>): string {
  const choice = (completion as Completion).choices?.[0];
  const text = (choice?.message as Record<string, unknown> | undefined)?.content ?? choice?.text;
  return typeof text === 'string' ? text : '';
}

/**
 * A whole answer's tool calls merged, as a stream's are: for chat, the server's calls made whole
 * (pieces of one streamed call joined) and normalised, those parsed out of the content (`parsed`)
 * added, the content without their markup, and `finish_reason` "tool_calls" when there are calls.
 * Says whether the server claimed a tool call it did not send (its parser dropped one). The
 * completion is changed in place.
 */
export function mergeWhole(completion: Record<string, unknown>, parsed?: ParsedContent): { completion: Record<string, unknown>; lostCall: boolean } {
  const choice = (completion as Completion).choices?.[0];
  const message = choice?.message as Record<string, unknown> | undefined;
  if (!choice || !message) return { completion, lostCall: false };
  const content = typeof message.content === 'string' ? message.content : undefined;
  const merged = mergeToolCalls(new ServerToolCalls().take(message.tool_calls, true), content, parsed);
  if (parsed) message.content = merged.content ?? null;
  if (merged.calls.length > 0) {
    message.tool_calls = merged.calls;
    choice.finish_reason = 'tool_calls';
    return { completion, lostCall: false };
  }
  return { completion, lostCall: choice.finish_reason === 'tool_calls' };
}
