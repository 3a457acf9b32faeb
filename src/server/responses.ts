import type { IncomingMessage, ServerResponse } from 'node:http';
import { PUBLIC_ERRORS, type PublicErrorCode } from '../answer/index.js';
import type { Config } from '../config.js';

/** A public code's HTTP status; `upstream_rejected` takes the model server's own 4xx (`upstreamStatus`), else 400. */
export function publicStatus(code: PublicErrorCode, upstreamStatus?: number): number {
  const { status } = PUBLIC_ERRORS[code];
  return typeof status === 'number' ? status : (upstreamStatus ?? 400);
}

/**
 * An OpenAI-style error body with a code of the public table (errors.ts), which gives its status
 * and type: a message that says what happened and what to do; never a stack or an internal detail.
 */
export function sendError(
  res: ServerResponse,
  code: PublicErrorCode,
  message: string,
  options: { param?: string | null; retryAfterSeconds?: number; headers?: Record<string, string>; /** For `upstream_rejected`: the model server's own 4xx. */ status?: number } = {},
): void {
  sendErrorBody(res, publicStatus(code, options.status), { error: { message, type: PUBLIC_ERRORS[code].type, param: options.param ?? null, code } }, options);
}

/**
 * An error body in any API's shape, with what every error answer needs: `Retry-After` when
 * given, and `Connection: close` when the request body was not read to its end (it cannot share
 * its connection with the next request). Once headers are gone, the connection is cut instead.
 */
export function sendErrorBody(res: ServerResponse, status: number, body: unknown, options: { retryAfterSeconds?: number; headers?: Record<string, string> } = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = { ...options.headers };
  if (options.retryAfterSeconds !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(options.retryAfterSeconds)));
  if (!res.req.complete) headers.connection = 'close';
  sendJson(res, status, body, headers);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)), ...headers });
  res.end(payload);
}

export class HttpError extends Error {
  constructor(
    readonly code: PublicErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** How a request body must arrive: at most `limitBytes`, within `timeoutMs`, at `minBytesPerSecond` or faster. */
export interface BodyLimits {
  limitBytes: number;
  timeoutMs: number;
  minBytesPerSecond: number;
}

/**
 * The span a body's rate is judged over: long enough for a real client's pauses (a packet lost
 * and sent again), short enough that a trickle gives its slot back in seconds, not at the deadline.
 */
export const BODY_RATE_WINDOW_MS = 2_000;

/**
 * The request body as JSON: at most `limitBytes` (413 beyond), within `timeoutMs` and never slower
 * than `minBytesPerSecond` over a rate window (408 for a body that trickles in), valid JSON (400
 * naming the parser's complaint). A body of loopback or LAN clients takes milliseconds; one timer
 * per window, cleared as the body ends, so a fast body costs one timer, as a bare deadline would.
 */
export function readJson(req: IncomingMessage, { limitBytes, timeoutMs, minBytesPerSecond }: BodyLimits): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > limitBytes) {
      reject(new HttpError('body_too_large', `the request body is ${declared} bytes; the limit is ${limitBytes}`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let sizeAtWindow = 0;
    const started = performance.now();
    const check = () => {
      const elapsed = performance.now() - started;
      if (elapsed >= timeoutMs) return fail(new HttpError('body_timeout', `the request body did not arrive within ${timeoutMs} ms`));
      // What the window should have brought: the minimum rate's share, or the rest of a smaller body.
      const expected = Math.min((minBytesPerSecond * BODY_RATE_WINDOW_MS) / 1000, Number.isFinite(declared) ? declared - sizeAtWindow : Infinity);
      if (size - sizeAtWindow < expected) {
        return fail(new HttpError('body_timeout', `the request body arrived at ${Math.round(((size - sizeAtWindow) * 1000) / BODY_RATE_WINDOW_MS)} bytes/s; it must come at ${minBytesPerSecond} bytes/s or faster (bodyMinBytesPerSecond)`));
      }
      sizeAtWindow = size;
      timer = setTimeout(check, Math.min(BODY_RATE_WINDOW_MS, timeoutMs - elapsed));
    };
    let timer = setTimeout(check, Math.min(BODY_RATE_WINDOW_MS, timeoutMs));
    let failed = false;
    // The error is answered with "Connection: close"; the rest of the body is not read.
    const fail = (error: HttpError) => {
      clearTimeout(timer);
      failed = true;
      req.removeAllListeners('data');
      reject(error);
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) return fail(new HttpError('body_too_large', `the request body is larger than the limit of ${limitBytes} bytes`));
      chunks.push(chunk);
    });
    req.on('error', () => fail(new HttpError('body_unreadable', 'the request body could not be read')));
    req.on('end', () => {
      clearTimeout(timer);
      if (failed) return;
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(JSON.parse(text));
      } catch (error) {
        reject(new HttpError('invalid_json', `the body is not valid JSON: ${(error as Error).message}`));
      }
    });
  });
}

/**
 * A request's JSON body within the configured limits (`readJson`), or undefined once the refusal
 * (400, 408, 413) went out through `refuse`, in the shape of the API that was asked.
 */
export async function readBody(req: IncomingMessage, res: ServerResponse, config: Pick<Config, 'bodyLimitBytes' | 'bodyTimeoutMs' | 'bodyMinBytesPerSecond'>, refuse: (res: ServerResponse, code: PublicErrorCode, message: string) => void): Promise<unknown> {
  try {
    return await readJson(req, { limitBytes: config.bodyLimitBytes, timeoutMs: config.bodyTimeoutMs, minBytesPerSecond: config.bodyMinBytesPerSecond });
  } catch (error) {
    const refusal = error as HttpError;
    refuse(res, refusal.code, refusal.message);
    return undefined;
  }
}

export function startStream(res: ServerResponse, headers: Record<string, string> = {}, contentType = 'text/event-stream'): void {
  res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-cache', ...headers });
}

export function writeSse(res: ServerResponse, data: unknown): void {
  res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
}
