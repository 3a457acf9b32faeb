import { callIdFor, type ToolCall } from '../tools/index.js';

/** What tool parsing made of one piece of an answer's content: the visible rest, and the calls in it. */
export interface ParsedContent {
  content: string;
  calls: ToolCall[];
}

/** The server's id kept when usable (see `callIdFor`), and arguments as JSON text of an object, whatever the model server sent. */
export function normaliseToolCall(call: Record<string, unknown>): Record<string, unknown> {
  const fn = { ...((call.function as Record<string, unknown> | undefined) ?? {}) };
  let args: unknown = fn.arguments;
  for (let i = 0; i < 2 && typeof args === 'string'; i++) {
    try {
      args = JSON.parse(args);
    } catch {
      break;
    }
  }
  fn.arguments = typeof args === 'string' ? args : JSON.stringify(args ?? {});
  return { ...call, id: callIdFor(call.id), type: 'function', function: fn };
}

const asOpenAiCall = (call: ToolCall): Record<string, unknown> => ({ id: call.id, type: 'function', function: { name: call.name, arguments: JSON.stringify(call.arguments) } });

/**
 * The tool calls of one piece of an answer (a stream chunk's delta or a whole message): those the
 * model server sent, normalised, then those parsed out of its content; and the content without
 * their markup (undefined when none is left). Without `parsed` the content passes unchanged.
 */
export function mergeToolCalls(serverCalls: unknown, content: string | undefined, parsed: ParsedContent | undefined): { content: string | undefined; calls: Array<Record<string, unknown>> } {
  const calls = (Array.isArray(serverCalls) ? (serverCalls as Array<Record<string, unknown>>) : []).map(normaliseToolCall);
  if (!parsed) return { content, calls };
  return { content: parsed.content || undefined, calls: [...calls, ...parsed.calls.map(asOpenAiCall)] };
}
