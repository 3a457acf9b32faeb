import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startLoopbackServer, type LoopbackServer } from './loopback-server.js';

export interface HubFile {
  path: string;
  content: Buffer;
  /** Stored with Git LFS: the hub redirects to a CDN and names the blob by sha256 in X-Linked-Etag. */
  lfs?: boolean;
}

export interface FakeHub extends LoopbackServer {
  commit: string;
  /** Each request, as "METHOD path" with its Range header when there was one. */
  requests: string[];
  /** The next GET of this file stops after so many bytes (the connection is cut). */
  cutAfter(path: string, bytes: number): void;
  /** Bytes per second for file bodies (default: as fast as the socket takes them). */
  throttle(bytesPerSecond: number): void;
  /** A hub that lies: what HEAD declares for this file (its size, its ETag), whatever the GET then sends. */
  declare(path: string, declared: { size?: number; etag?: string }): void;
  blobName(file: HubFile): string;
}

/**
 * The Hugging Face hub's routes for one model repository, as huggingface_hub and mlx-guard use
 * them: the revision info, the file tree, HEAD and GET of `resolve/<commit>/<path>` with ETags, sizes and a
 * redirect for LFS files, and ranges.
 */
export async function startFakeHub(repo: string, files: HubFile[]): Promise<FakeHub> {
  const commit = createHash('sha1').update(repo).digest('hex');
  const requests: string[] = [];
  const cuts = new Map<string, number>();
  let rate = 0;
  const declarations = new Map<string, { size?: number; etag?: string }>();
  const blobName = (file: HubFile) => (file.lfs ? createHash('sha256').update(file.content).digest('hex') : createHash('sha1').update(file.content).digest('hex'));
  const send = async (req: IncomingMessage, res: ServerResponse, file: HubFile) => {
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const body = file.content.subarray(start);
    res.writeHead(range ? 206 : 200, { 'content-length': String(body.length), 'content-type': 'application/octet-stream', ...(range ? { 'content-range': `bytes ${start}-${file.content.length - 1}/${file.content.length}` } : {}) });
    const cut = cuts.get(file.path);
    cuts.delete(file.path);
    const limit = cut ?? body.length;
    const step = 64 * 1024;
    for (let offset = 0; offset < limit; offset += step) {
      const piece = body.subarray(offset, Math.min(limit, offset + step));
      if (!res.write(piece)) await new Promise((resolve) => res.once('drain', resolve));
      if (rate > 0) await new Promise((resolve) => setTimeout(resolve, (piece.length / rate) * 1000));
    }
    if (cut !== undefined) res.socket?.destroy();
    else res.end();
  };
  const server = await startLoopbackServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    requests.push(`${req.method} ${path}${req.headers.range ? ` ${req.headers.range}` : ''}`);
    if (req.method === 'GET' && path === `/api/models/${repo}/revision/main`) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: repo, sha: commit, siblings: files.map((file) => ({ rfilename: file.path })) }));
      return;
    }
    // huggingface_hub >= 1.0 lists a revision's files before it fetches them (one page here).
    if (req.method === 'GET' && path === `/api/models/${repo}/tree/${commit}`) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(files.map((file) => ({ type: 'file', path: file.path, size: file.content.length, oid: createHash('sha1').update(file.content).digest('hex'), ...(file.lfs ? { lfs: { oid: blobName(file), size: file.content.length, pointerSize: 134 } } : {}) }))));
      return;
    }
    const resolved = new RegExp(`^/${repo}/resolve/${commit}/(.+)$`).exec(path);
    const cdn = /^\/cdn\/(.+)$/.exec(path);
    const file = files.find((f) => f.path === (resolved?.[1] ?? cdn?.[1]));
    if (!file) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Repository not found"}');
      return;
    }
    if (resolved && file.lfs) {
      res.writeHead(302, { location: `/cdn/${file.path}`, 'x-repo-commit': commit, 'x-linked-etag': `"${blobName(file)}"`, 'x-linked-size': String(file.content.length), etag: '"pointer"', 'content-length': '0' }).end();
      return;
    }
    if (req.method === 'HEAD') {
      const declared = declarations.get(file.path) ?? {};
      res.writeHead(200, { 'x-repo-commit': commit, etag: `"${declared.etag ?? blobName(file)}"`, 'content-length': String(declared.size ?? file.content.length) }).end();
      return;
    }
    void send(req, res, file);
  });
  return {
    ...server,
    commit,
    requests,
    blobName,
    cutAfter: (path, bytes) => cuts.set(path, bytes),
    throttle: (bytesPerSecond) => (rate = bytesPerSecond),
    declare: (path, declared) => declarations.set(path, declared),
  };
}
