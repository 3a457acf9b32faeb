import { connect } from 'node:net';

export interface RawResponse {
  /** Every byte the server sent before closing. */
  bytes: Buffer;
  statusLine: string;
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends `request` as written on a fresh connection and reads until the server closes it, so the
 * exact framing is visible (HTTP/1.0, headers present or not, zero bytes on a dropped request).
 */
export function rawRequest(port: number, request: string | Buffer, timeoutMs = 5_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close from 127.0.0.1:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parse(Buffer.concat(chunks)));
    });
    socket.write(withConnectionClose(request));
  });
}

/** Asks a keep-alive server to close after its answer (the stand-in closes anyway), so reading to the close works. */
function withConnectionClose(request: string | Buffer): Buffer {
  const bytes = Buffer.isBuffer(request) ? request : Buffer.from(request);
  const head = bytes.subarray(0, Math.max(0, bytes.indexOf('\r\n\r\n'))).toString('latin1');
  const firstLineEnd = bytes.indexOf('\r\n');
  if (firstLineEnd < 0 || /^connection:/im.test(head)) return bytes;
  return Buffer.concat([bytes.subarray(0, firstLineEnd + 2), Buffer.from('Connection: close\r\n'), bytes.subarray(firstLineEnd + 2)]);
}

function parse(bytes: Buffer): RawResponse {
  const text = bytes.toString('utf8');
  const split = text.indexOf('\r\n\r\n');
  const head = split < 0 ? text : text.slice(0, split);
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { bytes, statusLine, status: Number(statusLine.split(' ')[1] ?? 0), headers, body: split < 0 ? '' : text.slice(split + 4) };
}

/** A POST with a JSON (or any) body and a correct Content-Length. */
export function post(path: string, body: string | Buffer, extraHeaders = ''): Buffer {
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  return Buffer.concat([
    Buffer.from(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n${extraHeaders}\r\n`),
    payload,
  ]);
}

/** The `data:` payloads of an SSE body, and its comment lines. */
export function sse(body: string): { data: string[]; comments: string[] } {
  const data: string[] = [];
  const comments: string[] = [];
  for (const frame of body.split('\n\n')) {
    if (frame.startsWith('data: ')) data.push(frame.slice(6));
    else if (frame.startsWith(':')) comments.push(frame);
  }
  return { data, comments };
}
