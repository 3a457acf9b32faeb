// The stand-in answers to the real server: the same wire-level probes go to mlx_lm.server (the
// pinned version, serving the stories260K MLX model) and to native-host/standin, and their answers
// are compared field by field: status line, header names, the shape of every JSON body and SSE
// event (keys and value types), error bodies, and the lines on stderr. A difference is either
// fixed in the stand-in or listed in DELIBERATE with its reason; an unlisted one fails the test,
// and the whole table is printed (docs/mlx-lm.md keeps it).
import { beforeAll, describe, expect, it } from 'vitest';
import { realMlx, startDirectMlx } from '../support/mlx.js';
import { startStandin, type Spawned } from '../support/processes.js';
import { post, rawRequest, sse, type RawResponse } from '../support/raw-http.js';

const mlx = realMlx();
const hi = [{ role: 'user', content: 'Once upon a time' }];
const chat = (body: Record<string, unknown>) => post('/v1/chat/completions', JSON.stringify({ messages: hi, max_tokens: 3, ...body }));

/** Each probe is one request, sent as written to both servers. */
const PROBES: Record<string, string | Buffer> = {
  'GET /health': 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
  'OPTIONS': 'OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
  'HEAD /health': 'HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
  'GET unknown path': 'GET /v2/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
  'POST trailing slash': post('/v1/chat/completions/', '{}'),
  'GET /v1/models': 'GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
  'no Content-Length': 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'bad Content-Length': 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n',
  'invalid JSON': post('/v1/chat/completions', 'not json'),
  'a JSON array': post('/v1/chat/completions', '[]'),
  'max_tokens of the wrong type': chat({ max_tokens: 'ten' }),
  'temperature below 0': chat({ temperature: -1 }),
  'no messages': post('/v1/chat/completions', '{"max_tokens": 3}'),
  'no prompt': post('/v1/completions', '{"max_tokens": 3}'),
  'body not UTF-8': post('/v1/chat/completions', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])),
  'an image content part': chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }),
  'chat, whole': chat({}),
  'chat, max_tokens 0': chat({ max_tokens: 0 }),
  'chat, logprobs': chat({ logprobs: true, top_logprobs: 2 }),
  'chat, streamed with usage': chat({ stream: true, stream_options: { include_usage: true } }),
  'chat, streamed without stream_options': chat({ stream: true }),
  'chat, streamed, stream_options without include_usage': chat({ stream: true, stream_options: {} }),
  'text, whole': post('/v1/completions', JSON.stringify({ prompt: 'Once upon a time', max_tokens: 3 })),
  'text, streamed': post('/v1/completions', JSON.stringify({ prompt: 'Once upon a time', max_tokens: 3, stream: true })),
};

/** A value's shape: keys and types, not contents (texts, ids and timings differ by nature). */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? [] : [shape(value[0])];
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, shape(inner)]));
  return value === null ? 'null' : typeof value;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** What is compared of one answer. Error texts are compared whole: clients and mlx-guard quote them. */
function observe(response: RawResponse): Record<string, string> {
  const seen: Record<string, string> = {
    'status line': response.statusLine || '(connection closed with zero bytes)',
    'header names': Object.keys(response.headers).filter((name) => name !== 'date').sort().join(', '),
    'content-type': response.headers['content-type'] ?? '(none)',
  };
  if (response.headers['content-type'] === 'text/event-stream') {
    const { data, comments } = sse(response.body);
    const events = data.map((payload) => (payload === '[DONE]' ? '[DONE]' : JSON.stringify(shape(parseJson(payload)))));
    // Consecutive events of one shape count once: the number of tokens is the model's business.
    seen['SSE events'] = events.filter((event, i) => event !== events[i - 1]).join(' → ');
    seen['SSE comments'] = comments.length > 0 ? comments[0]!.replace(/\d+/g, 'N') : '(none)';
  } else {
    const json = parseJson(response.body);
    if (json === undefined) seen.body = response.body.slice(0, 120) || '(empty)';
    else if (typeof json === 'object' && json !== null && 'error' in json) seen.body = JSON.stringify(json);
    else seen['body shape'] = JSON.stringify(shape(json));
  }
  return seen;
}

/**
 * Differences kept on purpose, by probe and field, with the reason. The stand-in models one
 * mlx_lm.server (its version says which); where the real one differs in a way mlx-guard's tests
 * must not depend on, the difference is written here.
 */
const DELIBERATE: Record<string, string> = {};

interface Row {
  probe: string;
  field: string;
  standin: string;
  real: string;
}

let real: Spawned & { portNumber: number };
let standin: Spawned & { portNumber: number };

beforeAll(async () => {
  real = await startDirectMlx(mlx.python, mlx.stories);
  standin = await startStandin(['--model', mlx.stories]);
}, 90_000);

describe(`the stand-in against mlx_lm.server ${mlx.versions.mlxLm}`, () => {
  it('the same probes get the same answers, but for the differences written down with their reasons', async () => {
    const rows: Row[] = [];
    for (const [probe, request] of Object.entries(PROBES)) {
      const [fromStandin, fromReal] = await Promise.all([rawRequest(standin.portNumber, request, 30_000), rawRequest(real.portNumber, request, 30_000)]);
      const a = observe(fromStandin);
      const b = observe(fromReal);
      for (const field of new Set([...Object.keys(a), ...Object.keys(b)])) {
        if (a[field] !== b[field]) rows.push({ probe, field, standin: a[field] ?? '(absent)', real: b[field] ?? '(absent)' });
      }
    }
    // stderr: the lines every client of the log (mlx-guard's classifier among them) reads.
    const stderrLines = (lines: string[]) =>
      [
        lines.some((l) => l.includes('UserWarning: mlx_lm.server is not recommended for production')) ? 'start-up warning' : '',
        lines.some((l) => / - INFO - Starting httpd at 127\.0\.0\.1 on port \d+\.\.\.$/.test(l)) ? 'Starting httpd' : '',
        lines.some((l) => /^127\.0\.0\.1 - - \[.+\] "POST \/v1\/chat\/completions HTTP\/1\.1" 200 -$/.test(l)) ? 'access line' : '',
        lines.some((l) => / - INFO - Prompt processing progress: \d+\/\d+$/.test(l)) ? 'prompt progress' : '',
        lines.some((l) => l.includes('ValueError: max_tokens must be of type int')) ? 'validation traceback' : '',
      ]
        .filter(Boolean)
        .join(', ');
    const logs = { standin: stderrLines(standin.stderr), real: stderrLines(real.stderr) };
    if (logs.standin !== logs.real) rows.push({ probe: 'stderr', field: 'lines', standin: logs.standin, real: logs.real });

    const table = ['| probe | field | stand-in | real mlx_lm.server | deliberate |', '|---|---|---|---|---|', ...rows.map((r) => `| ${r.probe} | ${r.field} | ${r.standin} | ${r.real} | ${DELIBERATE[`${r.probe} / ${r.field}`] ? 'yes' : '**no**'} |`)];
    console.log(`stand-in vs mlx_lm.server ${mlx.versions.mlxLm}: ${rows.length} differences\n${table.join('\n')}`);
    expect(rows.filter((r) => !DELIBERATE[`${r.probe} / ${r.field}`])).toEqual([]);
  }, 120_000);
});
