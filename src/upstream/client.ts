import type { Dispatcher } from 'undici';
import { UpstreamError } from './errors.js';
import { SseParser, type SseEvent } from './sse.js';

export interface UpstreamCallOptions {
  /** The caller's cancellation (client gone): the request is aborted and the abort passes through. */
  signal?: AbortSignal;
  /** Deadline for the response headers (streaming: until the model starts; non-streaming: the whole answer). */
  headersTimeoutMs: number;
  /** Longest silence between two pieces of the body (keepalive comments count): past it the stream has stalled. */
  idleTimeoutMs: number;
  /** Largest error body read for the message. */
  maxErrorBodyBytes?: number;
  /** Largest whole answer read (a non-streaming answer with logprobs can be large, but not unbounded). */
  maxBodyBytes?: number;
  /** The key the model server requires of every request, sent as `Authorization: Bearer`. */
  apiKey?: string;
  /** Called when a 200 answer's headers arrive and at each piece of its body: the server is making progress. */
  onProgress?: () => void;
}

/**
 * POSTs a sanitised completion request and yields the SSE events of the answer. Every way the
 * model server can fail becomes an `UpstreamError` with a stable code; a stream that ends without
 * `[DONE]` is one of them (the server raised mid-generation and closed the stream).
 */
export async function* streamCompletion(url: string, body: string, options: UpstreamCallOptions): AsyncGenerator<SseEvent> {
  const response = await post(url, body, options);
  if (response.statusCode !== 200) {
    const text = await readBounded(response.body, options.maxErrorBodyBytes ?? 4_096).catch(() => '');
    throw new UpstreamError('ERR_UPSTREAM_STATUS', `the model server answered ${response.statusCode}: ${text}`, response.statusCode);
  }
  options.onProgress?.();
  const parser = new SseParser();
  const decoder = new TextDecoder();
  let done = false;
  try {
    for await (const chunk of response.body) {
      options.onProgress?.();
      for (const event of parser.push(decoder.decode(chunk as Uint8Array, { stream: true }))) {
        if (event.type === 'done') done = true;
        yield event;
      }
    }
    for (const event of parser.end()) {
      if (event.type === 'done') done = true;
      yield event;
    }
  } catch (error) {
    if (error instanceof RangeError) throw new UpstreamError('ERR_UPSTREAM_PROTOCOL', error.message, undefined, { cause: error });
    throw classify(error, options.signal);
  } finally {
    // A consumer that stops early (client gone) must not leave the socket open.
    if (!done) response.body.destroy();
  }
  if (!done) throw new UpstreamError('ERR_UPSTREAM_INCOMPLETE', 'the stream ended without [DONE]: the model server failed mid-generation');
}

/** The whole body (a non-streaming response), parsed; same error classification. */
export async function completeOnce(url: string, body: string, options: UpstreamCallOptions): Promise<Record<string, unknown>> {
  const response = await post(url, body, options);
  try {
    if (response.statusCode !== 200) {
      const text = await readBounded(response.body, options.maxErrorBodyBytes ?? 4_096);
      throw new UpstreamError('ERR_UPSTREAM_STATUS', `the model server answered ${response.statusCode}: ${text}`, response.statusCode);
    }
    const limit = options.maxBodyBytes ?? MAX_ANSWER_BYTES;
    const text = await readBounded(response.body, limit + 1);
    if (text.length > limit) throw new UpstreamError('ERR_UPSTREAM_PROTOCOL', `the model server's answer is larger than ${limit} bytes`);
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch (error) {
      throw new UpstreamError('ERR_UPSTREAM_PROTOCOL', 'the model server answered with invalid JSON', undefined, { cause: error });
    }
  } catch (error) {
    if (error instanceof UpstreamError) throw error;
    throw classify(error, options.signal);
  }
}

/**
 * Model servers known to close a kept-alive connection without saying so (by URL; a restarted
 * server listens on a new port). llama.cpp's server closes the connection after a streamed answer
 * while its headers promise keep-alive, so a request sent on it at once fails ("other side
 * closed": half of back-to-back streams); mlx_lm.server answers over HTTP/1.0 and closes after
 * every answer, which undici honours by itself. Other servers keep their connections, and a
 * reused connection saves a connect per call on both sides.
 */
const dropsKeptConnections = new Set<string>();
const KNOWN_SERVERS_MAX = 64;

/**
 * undici, loaded by the first call: only the inference worker makes calls, and every thread that
 * imports this layer (the main thread does, for its errors) would otherwise pay for it, about
 * 19 MB of resident memory each.
 */
let undici: Promise<{ request: typeof import('undici').request; keptAlive: Dispatcher; oneShot: Dispatcher }> | undefined;
const loadUndici = () =>
  (undici ??= import('undici').then(({ Agent, request }) => ({
    request,
    keptAlive: new Agent(),
    /** A connection per call (undici keeps none alive with pipelining 0; `reset` alone may still pick an idle kept one). */
    oneShot: new Agent({ pipelining: 0 }),
  })));

const JSON_ONLY = { 'content-type': 'application/json' };

async function post(url: string, body: string, options: UpstreamCallOptions): Promise<Dispatcher.ResponseData> {
  const { request, keptAlive, oneShot } = await loadUndici();
  const send = (fresh: boolean) =>
    request(url, {
      method: 'POST',
      headers: options.apiKey === undefined ? JSON_ONLY : { ...JSON_ONLY, authorization: `Bearer ${options.apiKey}` },
      body,
      signal: options.signal,
      headersTimeout: options.headersTimeoutMs,
      bodyTimeout: options.idleTimeoutMs,
      dispatcher: fresh ? oneShot : keptAlive,
    });
  const fresh = dropsKeptConnections.has(url);
  try {
    return await send(fresh);
  } catch (error) {
    if (fresh || options.signal?.aborted || !droppedKeptConnection(error)) throw classify(error, options.signal);
  }
  // A reused connection was closed before any answer: the server had dropped it after its
  // previous answer and never read this request (a server that died since is refused on the
  // fresh connection). From now on every call to it gets a connection of its own.
  if (dropsKeptConnections.size >= KNOWN_SERVERS_MAX) dropsKeptConnections.clear();
  dropsKeptConnections.add(url);
  try {
    return await send(true);
  } catch (error) {
    throw classify(error, options.signal);
  }
}

/**
 * The connection closed under a request before its answer, on a connection that had carried an
 * answer before (undici's socket error says what it had read). A new connection closed unanswered
 * is the server's own failure (it crashed, or dropped this request): not sent again.
 */
function droppedKeptConnection(error: unknown): boolean {
  const { code, socket } = error as { code?: string; socket?: { bytesRead?: number } };
  return code === 'UND_ERR_SOCKET' && (socket?.bytesRead ?? 0) > 0;
}

const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** At most `maxBytes` of the body as text (counted in UTF-16 units, near enough for a bound); the rest is not read. */
async function readBounded(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<string> {
  // One decoder for the whole body: a character split across two reads stays whole.
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of body) {
    text += decoder.decode(chunk as Uint8Array, { stream: true });
    if (text.length >= maxBytes) {
      body.destroy();
      return text.slice(0, maxBytes);
    }
  }
  return text + decoder.decode();
}

/** undici's errors by code (not instanceof: undici's error classes are not shared across its copies and versions). */
function classify(error: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return signal.reason ?? error;
  const code = (error as { code?: string }).code;
  const message = (error as Error).message ?? String(error);
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return new UpstreamError('ERR_UPSTREAM_HEADERS_TIMEOUT', 'the model server sent no response headers in time', undefined, { cause: error });
  if (code === 'UND_ERR_BODY_TIMEOUT') return new UpstreamError('ERR_UPSTREAM_STALL', 'the model server stopped sending mid-response (stalled)', undefined, { cause: error });
  return new UpstreamError('ERR_UPSTREAM_CONNECTION', `the connection to the model server failed: ${code ?? ''} ${message}`.trim(), undefined, { cause: error });
}
