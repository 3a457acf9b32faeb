import { callIdFor, type ToolCall } from '../tools/index.js';

/** What tool parsing made of one piece of an answer's content: the visible rest, and the calls in it. */
export interface ParsedContent {
  content: string;
  calls: ToolCall[];
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A tool call's arguments text as the object the APIs that carry arguments as objects need (Anthropic's `input`, Ollama's `arguments`): {} when it is not one. */
export function argumentsObject(argumentsText: unknown): Json {
  try {
    const value: unknown = typeof argumentsText === 'string' ? JSON.parse(argumentsText) : argumentsText;
    return isObject(value) ? value : {};
  } catch {
    return {};
  }
}

/**
 * The server's id kept when usable (see `callIdFor`), and arguments as the JSON text of an
 * object: decoded (twice at most, for a doubly encoded string) and encoded again when that gives
 * an object; any other text stays as the server sent it.
 */
function normaliseToolCall(call: Json): Json {
  const fn = { ...(isObject(call.function) ? call.function : {}) };
  let decoded: unknown = fn.arguments;
  for (let i = 0; i < 2 && typeof decoded === 'string'; i++) {
    try {
      decoded = JSON.parse(decoded);
    } catch {
      break;
    }
  }
  if (isObject(decoded)) fn.arguments = JSON.stringify(decoded);
  else if (fn.arguments === undefined || fn.arguments === null || (typeof fn.arguments === 'string' && fn.arguments.trim() === '')) fn.arguments = '{}';
  else if (typeof fn.arguments !== 'string') fn.arguments = JSON.stringify(fn.arguments);
  return { ...call, id: callIdFor(call.id), type: 'function', function: fn };
}

interface OpenCall {
  index: unknown;
  call: Json;
  fn: Json;
  /** The argument text so far. */
  args: string;
}

/**
 * One answer's tool calls from the model server, made whole. mlx_lm.server sends each call whole;
 * llama.cpp's server and vLLM send a call's id and name first, then its argument text in pieces
 * under the same `index`. A piece with that index and no id or name of its own continues the
 * open call; a call goes out once another starts or the answer finishes, so a client gets each
 * call once and whole, as it gets the calls parsed out of markup.
 */
export class ServerToolCalls {
  #open: OpenCall | undefined;

  /** The calls this chunk's pieces completed (`finishing`: the one still open too), normalised. */
  take(pieces: unknown, finishing: boolean): Json[] {
    const done: Json[] = [];
    for (const piece of Array.isArray(pieces) ? pieces : []) {
      if (!isObject(piece)) continue;
      const fn = isObject(piece.function) ? piece.function : {};
      const open = this.#open;
      if (open && piece.index !== undefined && piece.index === open.index && piece.id === undefined && fn.name === undefined) {
        if (typeof fn.arguments === 'string') open.args += fn.arguments;
        continue;
      }
      if (open) done.push(this.#close(open));
      const { index, ...call } = piece;
      const started: OpenCall = { index, call, fn, args: typeof fn.arguments === 'string' ? fn.arguments : fn.arguments === undefined ? '' : JSON.stringify(fn.arguments) };
      // Without an index nothing can continue it: it is whole already.
      if (index === undefined) done.push(this.#close(started));
      else this.#open = started;
    }
    if (finishing && this.#open) done.push(this.#close(this.#open));
    return done;
  }

  #close({ call, fn, args }: OpenCall): Json {
    this.#open = undefined;
    return normaliseToolCall({ ...call, function: { ...fn, arguments: args } });
  }
}

const asOpenAiCall = (call: ToolCall): Json => ({ id: call.id, type: 'function', function: { name: call.name, arguments: JSON.stringify(call.arguments) } });

/**
 * The tool calls of one piece of an answer (a stream chunk's delta or a whole message): the
 * model server's, made whole (see `ServerToolCalls`), then those parsed out of its content; and
 * the content without their markup (undefined when none is left). Without `parsed` the content
 * passes unchanged.
 */
export function mergeToolCalls(serverCalls: Json[], content: string | undefined, parsed: ParsedContent | undefined): { content: string | undefined; calls: Json[] } {
  if (!parsed) return { content, calls: serverCalls };
  return { content: parsed.content || undefined, calls: [...serverCalls, ...parsed.calls.map(asOpenAiCall)] };
}
