import type { IncomingMessage, ServerResponse } from 'node:http';

export type ErrorType = 'invalid_request_error' | 'not_found_error' | 'service_unavailable' | 'authentication_error' | 'server_error';

/** An OpenAI-style error body: a message that says what happened and what to do; never a stack. */
export function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  options: { type?: ErrorType; param?: string | null; code?: string; retryAfterSeconds?: number; headers?: Record<string, string> } = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const type = options.type ?? (status === 503 ? 'service_unavailable' : status >= 500 ? 'server_error' : status === 401 ? 'authentication_error' : status === 404 ? 'not_found_error' : 'invalid_request_error');
  const headers: Record<string, string> = { ...options.headers };
  if (options.retryAfterSeconds !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(options.retryAfterSeconds)));
  // A request whose body was not read to the end cannot share its connection with the next one.
  if (!res.req.complete) headers.connection = 'close';
  sendJson(res, status, { error: { message, type, param: options.param ?? null, code: options.code ?? null } }, headers);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)), ...headers });
  res.end(payload);
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

/**
 * The request body as JSON: at most `limitBytes` (413 beyond), within `timeoutMs` (408 for a body
 * that trickles in), valid JSON (400 naming the parser's complaint).
 */
export function readJson(req: IncomingMessage, limitBytes: number, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > limitBytes) {
      reject(new HttpError(413, `the request body is ${declared} bytes; the limit is ${limitBytes}`, 'body_too_large'));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => fail(new HttpError(408, `the request body did not arrive within ${timeoutMs} ms`, 'body_timeout')), timeoutMs);
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
      if (size > limitBytes) return fail(new HttpError(413, `the request body is larger than the limit of ${limitBytes} bytes`, 'body_too_large'));
      chunks.push(chunk);
    });
    req.on('error', () => fail(new HttpError(400, 'the request body could not be read', 'body_unreadable')));
    req.on('end', () => {
      clearTimeout(timer);
      if (failed) return;
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(JSON.parse(text));
      } catch (error) {
        reject(new HttpError(400, `the body is not valid JSON: ${(error as Error).message}`, 'invalid_json'));
      }
    });
  });
}

export function startSse(res: ServerResponse, headers: Record<string, string> = {}): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
}

export function writeSse(res: ServerResponse, data: unknown): void {
  res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
}
