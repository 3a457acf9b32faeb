// A proxy that records what a real client sends (method, path, JSON body) and passes it on,
// streaming the answer back as it comes: what an agent sent is asserted on, not guessed.
import { Readable } from 'node:stream';
import { startLoopbackServer, type LoopbackServer } from './loopback-server.js';

export interface Recorded {
  method: string;
  path: string;
  body: Record<string, unknown> | undefined;
  status?: number;
}

export async function recordingProxy(target: string): Promise<LoopbackServer & { requests: Recorded[] }> {
  const requests: Recorded[] = [];
  const server = await startLoopbackServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      const recorded: Recorded = { method: req.method ?? '', path: req.url ?? '', body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
      requests.push(recorded);
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => !['host', 'content-length', 'connection', 'accept-encoding'].includes(name))) as Record<string, string>;
      fetch(`${target}${req.url}`, { method: req.method!, headers, ...(text ? { body: text } : {}), signal: AbortSignal.timeout(60_000) }).then(
        (answer) => {
          recorded.status = answer.status;
          const passed: Record<string, string> = {};
          answer.headers.forEach((value, name) => {
            if (!['content-length', 'transfer-encoding', 'content-encoding', 'connection'].includes(name)) passed[name] = value;
          });
          res.writeHead(answer.status, passed);
          if (answer.body) Readable.fromWeb(answer.body as import('node:stream/web').ReadableStream).pipe(res);
          else res.end();
        },
        (error: unknown) => {
          res.writeHead(502).end(String(error));
        },
      );
    });
  });
  return { ...server, requests };
}

/** A `fetch` for an SDK client that notes the status of every answer it gets (its retries included). */
export function statusRecordingFetch(): { statuses: number[]; fetch: typeof fetch } {
  const statuses: number[] = [];
  return {
    statuses,
    fetch: async (input, init) => {
      const response = await fetch(input, init);
      statuses.push(response.status);
      return response;
    },
  };
}
