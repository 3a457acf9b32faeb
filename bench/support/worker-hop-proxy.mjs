// The bare proxy plus the least a worker-thread design adds: the upstream call runs in one
// worker thread, reached by plain postMessage on the worker's own port (no pool, no per-request
// channel, no validation, no breaker). bench:sidecar runs it beside the bare proxy to show the
// floor of any design that keeps upstream I/O off the main thread, on the machine at hand.
//   node worker-hop-proxy.mjs --port 0 --upstream http://127.0.0.1:PORT   (prints its URL on stdout)
import { createServer } from 'node:http';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Agent, request } from 'undici';

if (isMainThread) {
  const upstream = process.argv[process.argv.indexOf('--upstream') + 1];
  const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
  const worker = new Worker(new URL(import.meta.url), { workerData: { upstream } });
  const answering = new Map();
  let nextId = 0;
  worker.on('message', ({ id, head, chunk, end }) => {
    const res = answering.get(id);
    if (head) res.writeHead(head.status, { 'content-type': head.type });
    if (chunk) res.write(chunk);
    if (end) {
      res.end();
      answering.delete(id);
    }
  });
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const id = nextId++;
    answering.set(id, res);
    worker.postMessage({ id, path: req.url, body: Buffer.concat(chunks).toString(), authorization: req.headers.authorization });
  });
  server.listen(port, '127.0.0.1', () => console.log(`http://127.0.0.1:${server.address().port}`));
} else {
  const dispatcher = new Agent({ connections: 64 });
  parentPort.on('message', async ({ id, path, body, authorization }) => {
    try {
      const headers = authorization ? { 'content-type': 'application/json', authorization } : { 'content-type': 'application/json' };
      const answer = await request(`${workerData.upstream}${path}`, { method: 'POST', headers, body, dispatcher });
      parentPort.postMessage({ id, head: { status: answer.statusCode, type: answer.headers['content-type'] ?? 'application/json' } });
      for await (const chunk of answer.body) parentPort.postMessage({ id, chunk: chunk.toString() });
    } catch (error) {
      parentPort.postMessage({ id, head: { status: 502, type: 'text/plain' }, chunk: String(error) });
    }
    parentPort.postMessage({ id, end: true });
  });
}
