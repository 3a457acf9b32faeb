// What the campaign's clients send and what they saw: OpenAI and Anthropic, streamed and whole,
// with the behaviours of real clients (aborts mid-stream, slow readers, bursts, long prompts, bad
// input) and of an attacker (a request that crashes the server, one the server drops).
import { Agent, fetch } from 'undici';
import { SseParser, type SseEvent } from '../../src/upstream/index.js';
import { DROP_MARKER, POISON_MARKER } from './guard.js';
import type { Random } from './random.js';

export type Api = 'openai' | 'anthropic';
export type Behaviour = 'plain' | 'tools' | 'long_prefill' | 'abort' | 'slow_reader' | 'bad_input' | 'poison' | 'drop';

/** One answer reduced to what must be the same when the deterministic stand-in answers it again. */
export interface Answer {
  text: string;
  reasoning: string;
  tools: string[];
  finish: string;
}

export interface Outcome {
  id: number;
  api: Api;
  stream: boolean;
  behaviour: Behaviour;
  path: string;
  body: string;
  start: number;
  end: number;
  /** The HTTP status, absent when no response came. */
  status?: number;
  /** The error the client was given (OpenAI: its `code`; Anthropic: its `type`), in the body or in the stream. */
  error?: { code: string; message: string; inStream: boolean };
  /** Some of the answer's content reached the client (a stream's text, reasoning or tool call). */
  sawContent: boolean;
  /** The answer arrived whole: a 200 body, or a stream to its last event. */
  complete: boolean;
  answer?: Answer;
  replayed: boolean;
  /** What went wrong below HTTP (a reset, a deadline), when the client was not the one that ended it. */
  transport?: string;
  clientAborted: boolean;
  /** For bad input: the error it must get. */
  expected?: { status: number; code: string };
}

const WORDS = ['river', 'lamp', 'orbit', 'cedar', 'pixel', 'harbor', 'quartz', 'meadow', 'signal', 'copper', 'falcon', 'glacier'];
const TOOL = { name: 'get_weather', description: 'the weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } };

export interface RequestPlan {
  api: Api;
  stream: boolean;
  behaviour: Behaviour;
  path: string;
  body: string;
  expected?: { status: number; code: string };
}

/** A request of the given behaviour; its text is unique to the campaign and the request. */
export function planRequest(rng: Random, tag: string, behaviour: Behaviour): RequestPlan {
  const api: Api = rng.chance(0.5) ? 'openai' : 'anthropic';
  const stream = behaviour === 'abort' || behaviour === 'slow_reader' ? true : rng.chance(0.5);
  const path = api === 'openai' ? '/v1/chat/completions' : '/v1/messages';
  const words = Array.from({ length: rng.int(3, 12) }, () => rng.pick(WORDS)).join(' ');
  const marker = behaviour === 'poison' ? `${POISON_MARKER} ` : behaviour === 'drop' ? `${DROP_MARKER} ` : '';
  let content = `${marker}chaos ${tag}: ${words}`;
  // 100-300 KB: a long prefill, well under the default body limit (1 MiB).
  if (behaviour === 'long_prefill') content += ` ${words}`.repeat(Math.ceil(rng.int(100_000, 300_000) / (words.length + 1)));
  const maxTokens = rng.int(8, 64);
  const tools = behaviour === 'tools';
  if (behaviour === 'bad_input') return badInput(rng, api, stream, path);
  const body =
    api === 'openai'
      ? { model: 'chaos', messages: [{ role: 'user', content }], max_tokens: maxTokens, stream, ...(tools ? { tools: [{ type: 'function', function: TOOL }] } : {}) }
      : { model: 'claude-chaos', messages: [{ role: 'user', content }], max_tokens: maxTokens, stream, ...(tools ? { tools: [{ name: TOOL.name, description: TOOL.description, input_schema: TOOL.parameters }] } : {}) };
  return { api, stream, behaviour, path, body: JSON.stringify(body) };
}

function badInput(rng: Random, api: Api, stream: boolean, path: string): RequestPlan {
  const kind = rng.pick(['not_json', 'wrong_type', 'negative_max_tokens'] as const);
  const body =
    kind === 'not_json'
      ? '{"messages": [{"role": "user", "content": "cut'
      : kind === 'wrong_type'
        ? JSON.stringify({ model: 'chaos', messages: 'not a list', max_tokens: 8, stream })
        : JSON.stringify({ model: 'chaos', messages: [{ role: 'user', content: 'hi' }], max_tokens: -5, stream });
  const code = api === 'anthropic' ? 'invalid_request_error' : kind === 'not_json' ? 'invalid_json' : 'invalid_request';
  return { api, stream, behaviour: 'bad_input', path, body, expected: { status: 400, code } };
}

/** No timeouts of the client library's own (undici waits 300 s for headers): the request's deadline is the campaign's to judge. */
const client = new Agent({ headersTimeout: 0, bodyTimeout: 0 });

export interface SendOptions {
  url: string;
  /** Past this, the client gives up: the request broke its deadline. */
  deadlineMs: number;
  /** Ends the request early (the campaign is being torn down after a violation). */
  signal?: AbortSignal;
}

/** Sends one planned request and records what its client saw. */
export async function send(plan: RequestPlan, id: number, rng: Random, options: SendOptions): Promise<Outcome> {
  const { api, stream, behaviour, path, body, expected } = plan;
  const outcome: Outcome = { id, api, stream, behaviour, path, body, ...(expected ? { expected } : {}), start: Date.now(), end: 0, sawContent: false, complete: false, replayed: false, clientAborted: false };
  const controller = new AbortController();
  let overDeadline = false;
  const deadline = setTimeout(() => {
    overDeadline = true;
    controller.abort();
  }, options.deadlineMs);
  const teardown = () => controller.abort();
  options.signal?.addEventListener('abort', teardown);
  // The abort comes after 1-3 pieces of content; a slow reader pauses before each read.
  const abortAfter = plan.behaviour === 'abort' ? rng.int(1, 3) : Infinity;
  const pauseMs = plan.behaviour === 'slow_reader' ? rng.int(50, 400) : 0;
  try {
    const response = await fetch(options.url + plan.path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(plan.api === 'anthropic' ? { 'anthropic-version': '2023-06-01' } : {}) },
      body: plan.body,
      signal: controller.signal,
      dispatcher: client,
    });
    outcome.status = response.status;
    outcome.replayed = response.headers.has('x-mlx-guard-replayed');
    if (response.status !== 200 || !plan.stream) {
      const text = await response.text();
      const parsed = parseJson(text);
      if (response.status === 200) {
        outcome.answer = plan.api === 'openai' ? openaiWhole(parsed) : anthropicWhole(parsed);
        outcome.complete = outcome.answer !== undefined;
        if (!outcome.complete) outcome.transport = `a 200 whose body is not an answer: ${text.slice(0, 200)}`;
      } else outcome.error = errorOf(plan.api, parsed, text, false);
    } else {
      const assembly = new Assembly(plan.api);
      let pieces = 0;
      for await (const event of sseEvents(response.body!)) {
        if (pauseMs) await new Promise((resolve) => setTimeout(resolve, pauseMs));
        const before = assembly.contentPieces;
        assembly.take(event);
        if (assembly.contentPieces > before) pieces++;
        if (pieces >= abortAfter) {
          outcome.clientAborted = true;
          controller.abort();
          break;
        }
      }
      outcome.sawContent = assembly.contentPieces > 0;
      outcome.complete = assembly.done;
      if (assembly.error) outcome.error = { ...assembly.error, inStream: true };
      if (assembly.done) outcome.answer = assembly.answer();
      if (!assembly.done && !assembly.error && !outcome.clientAborted) outcome.transport = 'the stream ended without its last event or an error';
    }
  } catch (error) {
    if (!outcome.clientAborted) outcome.transport = overDeadline ? `no end within ${options.deadlineMs} ms` : options.signal?.aborted ? 'torn down' : String((error as Error).cause ?? (error as Error).message);
  } finally {
    clearTimeout(deadline);
    options.signal?.removeEventListener('abort', teardown);
    outcome.end = Date.now();
  }
  return outcome;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function errorOf(api: Api, parsed: unknown, text: string, inStream: boolean): { code: string; message: string; inStream: boolean } {
  const error = (parsed as { error?: { code?: unknown; type?: unknown; message?: unknown } } | undefined)?.error;
  const code = api === 'openai' ? error?.code : error?.type;
  return { code: typeof code === 'string' ? code : `unreadable error body: ${text.slice(0, 200)}`, message: typeof error?.message === 'string' ? error.message : '', inStream };
}

const canonical = (value: unknown): string => JSON.stringify(value, (_key, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v));

function argumentsText(text: string): string {
  const parsed = parseJson(text);
  return parsed === undefined ? text : canonical(parsed);
}

function openaiWhole(parsed: unknown): Answer | undefined {
  const choice = (parsed as { choices?: Array<{ finish_reason?: string; message?: { content?: string | null; reasoning?: string; tool_calls?: Array<{ function: { name: string; arguments: string } }> } }> })?.choices?.[0];
  if (!choice?.message) return undefined;
  const { message } = choice;
  return { text: message.content ?? '', reasoning: message.reasoning ?? '', tools: (message.tool_calls ?? []).map((c) => `${c.function.name} ${argumentsText(c.function.arguments)}`), finish: choice.finish_reason ?? '' };
}

function anthropicWhole(parsed: unknown): Answer | undefined {
  const message = parsed as { content?: Array<{ type: string; text?: string; thinking?: string; name?: string; input?: unknown }>; stop_reason?: string } | undefined;
  if (!Array.isArray(message?.content)) return undefined;
  const answer: Answer = { text: '', reasoning: '', tools: [], finish: message.stop_reason ?? '' };
  for (const block of message.content) {
    if (block.type === 'text') answer.text += block.text ?? '';
    else if (block.type === 'thinking') answer.reasoning += block.thinking ?? '';
    else if (block.type === 'tool_use') answer.tools.push(`${block.name} ${canonical(block.input)}`);
  }
  return answer;
}

/** The stream's events as mlx-guard's own upstream parser reads them (an Anthropic event's name is also its data's `type`). */
async function* sseEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  const parser = new SseParser();
  for await (const chunk of body) yield* parser.push(decoder.decode(chunk, { stream: true }));
  yield* parser.end();
}

/** A streamed answer put together from its events, as an SDK would. */
class Assembly {
  contentPieces = 0;
  done = false;
  error: { code: string; message: string } | undefined;
  #text = '';
  #reasoning = '';
  #finish = '';
  #tools: Array<{ name: string; args: string }> = [];

  constructor(readonly api: Api) {}

  take(event: SseEvent): void {
    if (event.type === 'done') this.done = true;
    else if (event.type === 'data') {
      if (this.api === 'openai') this.#openai(event.data);
      else this.#anthropic(event.data);
    }
  }

  #openai(data: string): void {
    const chunk = parseJson(data) as { error?: unknown; choices?: Array<{ delta?: { content?: string | null; reasoning?: string; tool_calls?: Array<{ index?: number; function?: { name?: string; arguments?: string } }> }; finish_reason?: string | null }> } | undefined;
    if (chunk?.error) {
      this.error = errorOf('openai', chunk, data, true);
      return;
    }
    const choice = chunk?.choices?.[0];
    if (!choice) return;
    const delta = choice.delta ?? {};
    if (delta.content) (this.#text += delta.content), this.contentPieces++;
    if (delta.reasoning) (this.#reasoning += delta.reasoning), this.contentPieces++;
    for (const call of delta.tool_calls ?? []) {
      const slot = (this.#tools[call.index ?? 0] ??= { name: '', args: '' });
      slot.name += call.function?.name ?? '';
      slot.args += call.function?.arguments ?? '';
      this.contentPieces++;
    }
    if (choice.finish_reason) this.#finish = choice.finish_reason;
  }

  #anthropic(data: string): void {
    const payload = parseJson(data) as { type?: string; error?: unknown; index?: number; content_block?: { type: string; name?: string }; delta?: { type?: string; text?: string; thinking?: string; partial_json?: string; stop_reason?: string } } | undefined;
    const event = payload?.type;
    if (event === 'error') {
      this.error = errorOf('anthropic', payload, data, true);
      return;
    }
    if (event === 'message_stop') this.done = true;
    if (event === 'content_block_start' && payload?.content_block?.type === 'tool_use') this.#tools[payload.index ?? 0] = { name: payload.content_block.name ?? '', args: '' };
    if (event === 'message_delta' && payload?.delta?.stop_reason) this.#finish = payload.delta.stop_reason;
    if (event !== 'content_block_delta' || !payload?.delta) return;
    const { delta } = payload;
    if (delta.type === 'text_delta') this.#text += delta.text ?? '';
    else if (delta.type === 'thinking_delta') this.#reasoning += delta.thinking ?? '';
    else if (delta.type === 'input_json_delta') this.#tools[payload.index ?? 0]!.args += delta.partial_json ?? '';
    this.contentPieces++;
  }

  answer(): Answer {
    return { text: this.#text, reasoning: this.#reasoning, tools: this.#tools.filter(Boolean).map((t) => `${t.name} ${argumentsText(t.args || '{}')}`), finish: this.#finish };
  }
}

export const sameAnswer = (a: Answer, b: Answer): boolean => canonical(a) === canonical(b);
export const describeAnswer = (a: Answer): string => canonical(a).slice(0, 300);
