// The least a proxy can do: read the body, send it upstream with undici, pipe the answer back.
// No validation, no breaker, no worker thread. bench:sidecar runs it beside mlx-guard to show
// what one more HTTP hop costs on the machine at hand, apart from what mlx-guard adds on top.
//   node bare-proxy.mjs --port 0 --upstream http://127.0.0.1:PORT   (prints its URL on stdout)
import { createServer } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Agent, request } from 'undici';

const upstream = process.argv[process.argv.indexOf('--upstream') + 1];
const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
const dispatcher = new Agent({ connections: 64 });

const server = createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  try {
    // The key a model server may require (llama-server's), passed on as mlx-guard sends its own.
    const headers = req.headers.authorization ? { 'content-type': 'application/json', authorization: req.headers.authorization } : { 'content-type': 'application/json' };
    const answer = await request(`${upstream}${req.url}`, { method: 'POST', headers, body: Buffer.concat(chunks), dispatcher });
    res.writeHead(answer.statusCode, { 'content-type': answer.headers['content-type'] ?? 'application/json' });
    await pipeline(answer.body, res);
  } catch (error) {
    if (!res.headersSent) res.writeHead(502);
    res.end(String(error));
  }
});
server.listen(port, '127.0.0.1', () => console.log(`http://127.0.0.1:${server.address().port}`));
