// A minimal OpenAI-compatible upstream for load benchmarks: answers at once, keeps connections
// alive (the stand-in's HTTP/1.0 close-per-response would measure Python, not mlx-guard), and
// streams the same 4-token answer mlx_lm.server would (a stream of `max_tokens` tokens when more
// are asked for, to measure long answers). POST /__fail {"on": true} makes its completions answer 500.
import { createServer } from 'node:http';

const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
let failing = false;
const envelope = { id: 'chatcmpl-bench', system_fingerprint: 'bench', model: 'default_model', created: 0 };
const usage = { prompt_tokens: 4, completion_tokens: 4, total_tokens: 8, prompt_tokens_details: { cached_tokens: 0 } };
const tokens = ['Fast', ' answer', ' for', ' benchmarks'];

createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    if (req.url === '/__fail') {
      failing = JSON.parse(body).on === true;
      res.end('{}');
      return;
    }
    // Completions fail; /health still answers, as a model server whose generation raises does.
    if (failing && req.url?.startsWith('/v1/')) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"error": "failing on purpose"}');
      return;
    }
    const request = JSON.parse(body || '{}');
    if (!request.stream) {
      const payload = JSON.stringify({ ...envelope, object: 'chat.completion', choices: [{ index: 0, finish_reason: 'length', message: { role: 'assistant', content: tokens.join('') } }], usage });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
      res.end(payload);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let out = ': keepalive 4/4\n\n';
    const count = Math.max(tokens.length, Number(request.max_tokens) || 0);
    for (let i = 0; i < count; i++) out += `data: ${JSON.stringify({ ...envelope, object: 'chat.completion.chunk', choices: [{ index: 0, finish_reason: null, delta: { role: 'assistant', content: tokens[i % tokens.length] } }] })}\n\n`;
    out += `data: ${JSON.stringify({ ...envelope, object: 'chat.completion.chunk', choices: [{ index: 0, finish_reason: 'length', delta: { role: 'assistant' } }] })}\n\n`;
    if (request.stream_options?.include_usage) out += `data: ${JSON.stringify({ ...envelope, object: 'chat.completion', choices: [], usage })}\n\n`;
    res.end(`${out}data: [DONE]\n\n`);
  });
}).listen(port, '127.0.0.1', () => process.stderr.write(`fast upstream on port ${port}\n`));
