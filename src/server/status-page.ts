import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The status page's files, shipped in the package (`public/`): no build step, nothing from another host. */
const FILES = {
  '/': { file: 'status.html', type: 'text/html; charset=utf-8' },
  '/status-page.js': { file: 'status.js', type: 'text/javascript; charset=utf-8' },
  '/status-page.css': { file: 'status.css', type: 'text/css; charset=utf-8' },
} as const;

const cache = new Map<string, Buffer>();

/** Nothing but this origin: the page works offline and cannot be made to talk to another host. */
const POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const PAGE_PATHS = Object.keys(FILES) as Array<keyof typeof FILES>;

export function sendPage(res: ServerResponse, path: keyof typeof FILES = '/'): void {
  const { file, type } = FILES[path];
  let body = cache.get(file);
  if (!body) {
    body = readFileSync(new URL(`../../public/${file}`, import.meta.url));
    cache.set(file, body);
  }
  res.writeHead(200, { 'content-type': type, 'content-length': String(body.length), 'content-security-policy': POLICY, 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' });
  res.end(body);
}

/** How often the page hears the status: the issue asks for no slower than a second. */
const EVERY_MS = 1_000;

/**
 * Status streams open at once. Each holds its connection for as long as its page stays open, as a
 * request being served, which the connection slots never close; past this, the oldest stream is
 * ended for the new one (a page's EventSource reconnects by itself).
 */
export const MAX_STATUS_STREAMS = 32;

/** The status as server-sent events, one a second, to each page that follows it. */
export class StatusStreams {
  readonly #open = new Set<ServerResponse>();

  /** One page's stream, until the page goes away (or the status cannot be read: then the stream ends, and the page reconnects). */
  stream(req: IncomingMessage, res: ServerResponse, snapshot: () => Promise<Record<string, unknown>>, onError: (error: unknown) => void): void {
    if (this.#open.size >= MAX_STATUS_STREAMS) this.#open.values().next().value!.end();
    this.#open.add(res);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
    let busy = false;
    const send = async () => {
      if (busy || res.destroyed) return;
      busy = true;
      try {
        res.write(`event: status\ndata: ${JSON.stringify(await snapshot())}\n\n`);
      } catch (error) {
        clearInterval(timer);
        onError(error);
        res.end();
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(() => void send(), EVERY_MS);
    const closed = () => {
      clearInterval(timer);
      this.#open.delete(res);
    };
    req.on('close', closed);
    res.on('finish', closed);
    void send();
  }
}
