import { mergeToolCalls, ServerToolCalls, type ParsedContent } from './tool-calls.js';

type Response = Record<string, unknown> & { choices?: Array<Record<string, unknown>> };

/** The message text of a whole chat answer, for tool parsing ('' for none). */
export function wholeContent(response: Record<string, unknown>): string {
  const message = (response as Response).choices?.[0]?.message as Record<string, unknown> | undefined;
  return typeof message?.content === 'string' ? message.content : '';
}

/**
 * A whole answer as the client gets it: the client's model name; for chat, the server's tool
 * calls made whole (pieces of one streamed call joined) and normalised, and those parsed out of
 * the content (`parsed`) added, the content without their markup, and `finish_reason`
 * "tool_calls" when there are calls. Says whether the server claimed a tool call it did not send
 * (its parser dropped one).
 */
export function shapeWhole(response: Record<string, unknown>, options: { kind: 'chat' | 'text'; model?: string }, parsed?: ParsedContent): { body: Record<string, unknown>; lostCall: boolean } {
  const body = response as Response;
  if (options.model !== undefined) body.model = options.model;
  const choice = body.choices?.[0];
  const message = choice?.message as Record<string, unknown> | undefined;
  if (options.kind !== 'chat' || !choice || !message) return { body, lostCall: false };
  const content = typeof message.content === 'string' ? message.content : undefined;
  const merged = mergeToolCalls(new ServerToolCalls().take(message.tool_calls, true), content, parsed);
  if (parsed) message.content = merged.content ?? null;
  if (merged.calls.length > 0) {
    message.tool_calls = merged.calls;
    choice.finish_reason = 'tool_calls';
    return { body, lostCall: false };
  }
  return { body, lostCall: choice.finish_reason === 'tool_calls' };
}
