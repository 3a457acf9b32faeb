// The least a refusal can cost: read the body, parse it, answer a 503 with a JSON error body and
// Retry-After, as mlx-guard's open breaker does. bench:sidecar times it beside mlx-guard's open
// breaker, so that the verdict shows what a 503 costs on the machine at hand at all.
//   node bare-503.mjs   (prints its URL on stdout)
import { createServer } from 'node:http';

const payload = JSON.stringify({ error: { message: 'the model server is failing; mlx-guard answers at once instead of waiting', type: 'server_error', param: null, code: 'breaker_open' } });
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    JSON.parse(Buffer.concat(chunks).toString());
    res.writeHead(503, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)), 'retry-after': '60' });
    res.end(payload);
  });
});
server.listen(0, '127.0.0.1', () => console.log(`http://127.0.0.1:${server.address().port}`));
