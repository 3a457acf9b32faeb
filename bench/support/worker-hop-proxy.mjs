// The bare proxy plus the least a worker-thread design adds: the upstream call runs in one
// worker thread, reached by plain postMessage on the worker's own port (no pool, no per-request
// channel, no validation, no breaker). bench:sidecar runs it beside the bare proxy to show the
// floor of any design that keeps upstream I/O off the main thread, on the machine at hand. A
// request with the `x-mlx-guard-timing` header gets its timeline as mlx-guard gives it
// (`Server-Timing`, each phase from the request's arrival, on one clock): where the floor's time
// goes, beside where mlx-guard's does.
//   node worker-hop-proxy.mjs --port 0 --upstream http://127.0.0.1:PORT   (prints its URL on stdout)
import { createServer } from 'node:http';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Agent, request } from 'undici';

/** A point in time both threads read alike. */
const epochMs = () => performance.timeOrigin + performance.now();

if (isMainThread) {
  const upstream = process.argv[process.argv.indexOf('--upstream') + 1];
  const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
  const worker = new Worker(new URL(import.meta.url), { workerData: { upstream } });
  const answering = new Map();
  let nextId = 0;
  worker.on('message', ({ id, head, chunk, end }) => {
    const res = answering.get(id);
    if (head) {
      const timing = res.timing ? { 'server-timing': [...head.marks, ['respond', epochMs()]].map(([phase, at]) => `${phase};dur=${(at - res.timing).toFixed(3)}`).join(', ') } : {};
      res.writeHead(head.status, { 'content-type': head.type, ...timing });
    }
    if (chunk) res.write(chunk);
    if (end) {
      res.end();
      answering.delete(id);
    }
  });
  const server = createServer(async (req, res) => {
    const arrived = epochMs();
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const id = nextId++;
    if (req.headers['x-mlx-guard-timing'] !== undefined) res.timing = arrived;
    answering.set(id, res);
    worker.postMessage({ id, path: req.url, body: Buffer.concat(chunks).toString(), authorization: req.headers.authorization, timed: res.timing !== undefined });
  });
  server.listen(port, '127.0.0.1', () => console.log(`http://127.0.0.1:${server.address().port}`));
} else {
  const dispatcher = new Agent({ connections: 64 });
  parentPort.on('message', async ({ id, path, body, authorization, timed }) => {
    const marks = timed ? [['worker', epochMs()]] : [];
    try {
      const headers = authorization ? { 'content-type': 'application/json', authorization } : { 'content-type': 'application/json' };
      const answer = await request(`${workerData.upstream}${path}`, { method: 'POST', headers, body, dispatcher });
      if (timed) marks.push(['upstream_headers', epochMs()]);
      parentPort.postMessage({ id, head: { status: answer.statusCode, type: answer.headers['content-type'] ?? 'application/json', marks } });
      for await (const chunk of answer.body) parentPort.postMessage({ id, chunk: chunk.toString() });
    } catch (error) {
      parentPort.postMessage({ id, head: { status: 502, type: 'text/plain', marks }, chunk: String(error) });
    }
    parentPort.postMessage({ id, end: true });
  });
}
