// The stand-in answers like mlx_lm.server 0.32 (compared with the real one by test/mlx), checked on the wire:
// framing, routes, the error matrix, and every JSON/SSE shape against strict schemas.
import { beforeAll, describe, expect, it } from 'vitest';
import * as shapes from '../../support/mlx-schemas.js';
import { startStandin, until, type Spawned } from '../../support/processes.js';
import { post, rawRequest, sse } from '../../support/raw-http.js';

const MODEL = 'mlx-community/Demo-Model-4bit';
let standin: Spawned & { portNumber: number };

beforeAll(async () => {
  standin = await startStandin(['--model', MODEL, '--control']);
});

const send = (request: string | Buffer) => rawRequest(standin.portNumber, request);
const get = (path: string) => send(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
const chat = (body: Record<string, unknown>) => send(post('/v1/chat/completions', JSON.stringify(body)));
const hi = [{ role: 'user', content: 'hi there' }];

/** A body that is not UTF-8 drops the connection with zero bytes. */
async function expectDropped(request: Buffer, traceback: string) {
  const response = await send(request);
  expect(response.bytes.length).toBe(0);
  await until(`"${traceback}" on stderr`, () => (standin.stderr.some((l) => l.includes(traceback)) ? true : undefined));
  expect(standin.stderr.join('\n')).toContain('Exception occurred during processing of request from');
}

describe('framing and routes', () => {
  it('GET /health: HTTP/1.0, JSON and CORS headers, no Content-Length, closed after the body', async () => {
    const response = await get('/health');
    expect(response.statusLine).toBe('HTTP/1.0 200 OK');
    expect(response.headers).toMatchObject({
      'content-type': 'application/json',
      'access-control-allow-origin': '*',
      'access-control-allow-methods': '*',
      'access-control-allow-headers': '*',
    });
    expect(response.headers.server).toMatch(/^BaseHTTP\/0\.6 Python\/3\./);
    expect(response.headers).not.toHaveProperty('content-length');
    expect(response.body).toBe('{"status": "ok"}');
  });

  it('OPTIONS on any path: 204 with the CORS headers', async () => {
    const response = await send('OPTIONS /anything HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(response.status).toBe(204);
    expect(response.headers['access-control-allow-methods']).toBe('*');
    expect(response.body).toBe('');
  });

  it('other methods: Python’s own 501', async () => {
    for (const method of ['HEAD', 'PUT', 'DELETE', 'PATCH']) {
      const response = await send(`${method} /health HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(response.statusLine).toBe(`HTTP/1.0 501 Unsupported method ('${method}')`);
    }
  });

  it('unknown paths, trailing slashes and query strings: 404 "Not Found" with a JSON content type', async () => {
    for (const response of [
      await get('/v2/models'),
      await send(post('/v1/chat/completions/', '{}')),
      await send(post('/v1/chat/completions?x=1', '{}')),
      await send(post('/v1/embeddings', '{}')),
    ]) {
      expect(response.status).toBe(404);
      expect(response.headers['content-type']).toBe('application/json');
      expect(response.body).toBe('Not Found');
    }
  });

  it('/v1/models lists the model; /v1/models/<repo> filters to it', async () => {
    const all = shapes.models.parse(JSON.parse((await get('/v1/models')).body));
    expect(all.data.map((m) => m.id)).toEqual([MODEL]);
    expect(shapes.models.parse(JSON.parse((await get(`/v1/models/${MODEL}`)).body)).data).toHaveLength(1);
    expect(shapes.models.parse(JSON.parse((await get('/v1/models/other/repo')).body)).data).toHaveLength(0);
  });
});

describe('the error matrix (§1.1)', () => {
  it('no Content-Length: 411; a bad one: 400', async () => {
    const noLength = await send('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    expect(noLength.status).toBe(411);
    expect(JSON.parse(noLength.body)).toEqual({ error: 'Content-Length header is required' });
    const badLength = await send('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n');
    expect(badLength.status).toBe(400);
    expect(JSON.parse(badLength.body)).toEqual({ error: 'Invalid Content-Length header' });
  });

  it('invalid JSON: 400 with Python’s decoder message; a JSON array: 400', async () => {
    const invalid = await send(post('/v1/chat/completions', 'not json'));
    expect(invalid.status).toBe(400);
    expect(JSON.parse(invalid.body)).toEqual({ error: 'Invalid JSON in request body: Expecting value: line 1 column 1 (char 0)' });
    const array = await send(post('/v1/chat/completions', '[]'));
    expect(JSON.parse(array.body)).toEqual({ error: 'Request should be a JSON dictionary' });
  });

  it('a field that fails validation: 400 with the reason, as 0.32 answers (older servers dropped the connection)', async () => {
    const refused = async (body: Record<string, unknown>, error: string) => {
      const response = await chat({ messages: hi, ...body });
      expect(response.status).toBe(400);
      expect(JSON.parse(response.body)).toEqual({ error });
    };
    await refused({ max_tokens: 'ten' }, 'max_tokens must be of type int');
    await refused({ max_tokens: 0 }, 'max_tokens must be at least 1');
    await refused({ max_completion_tokens: -1 }, 'max_tokens must be at least 1');
    await refused({ temperature: -1 }, 'temperature must be at least 0');
    await refused({ temperature: 'hot' }, "temperature must be of type ('float', 'int')");
    await refused({ stream: null }, 'stream must be of type bool');
    await refused({ xtc_probability: 0 }, 'xtc_probability must be of type float');
    await refused({ top_logprobs: 12 }, 'top_logprobs must be at most 11');
    await refused({ model: null }, 'requested_model must be of type str');
  });

  it('missing messages / prompt: 400; a body that is not UTF-8: zero bytes', async () => {
    const noMessages = await send(post('/v1/chat/completions', '{"max_tokens": 3}'));
    expect([noMessages.status, JSON.parse(noMessages.body)]).toEqual([400, { error: 'Request did not contain messages' }]);
    const noPrompt = await send(post('/v1/completions', '{"max_tokens": 3}'));
    expect([noPrompt.status, JSON.parse(noPrompt.body)]).toEqual([400, { error: 'Request did not contain a prompt' }]);
    await expectDropped(post('/v1/chat/completions', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), 'UnicodeDecodeError');
  });

  it('an unknown model or a non-text content part: 404 with {"error": …}', async () => {
    const unknownModel = await chat({ messages: hi, model: 'gpt-4o' });
    expect(unknownModel.status).toBe(404);
    expect(shapes.errorBody.parse(JSON.parse(unknownModel.body)).error).toContain("Repository Not Found for model 'gpt-4o'");
    const image = await chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] });
    expect(image.status).toBe(404);
    expect(JSON.parse(image.body)).toEqual({ error: "Only 'text' content type is supported." });
  });
});

describe('chat completions (§2.1, §2.2)', () => {
  it('non-streaming: HTTP/1.0, Content-Length, the exact shape, default_model echoed', async () => {
    const response = await chat({ messages: hi, max_tokens: 6 });
    expect(response.statusLine).toBe('HTTP/1.0 200 OK');
    expect(Number(response.headers['content-length'])).toBe(Buffer.byteLength(response.body));
    const body = shapes.chatCompletion.parse(JSON.parse(response.body));
    expect(body.model).toBe('default_model');
    expect(body.choices[0].finish_reason).toBe('length');
    expect(body.usage.completion_tokens).toBe(6);
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + 6);
    expect(Object.keys(JSON.parse(response.body))).toEqual(['id', 'system_fingerprint', 'object', 'model', 'created', 'choices', 'usage']);
  });

  it('serialises like Python’s json.dumps: ", " and ": " separators', async () => {
    const response = await chat({ messages: hi, max_tokens: 2 });
    expect(response.body).toMatch(/^\{"id": "chatcmpl-[0-9a-f-]{36}", "system_fingerprint": /);
  });

  it('echoes the --model name when the request sends it', async () => {
    const body = shapes.chatCompletion.parse(JSON.parse((await chat({ messages: hi, model: MODEL, max_tokens: 2 })).body));
    expect(body.model).toBe(MODEL);
  });

  it('is deterministic: the same request gives the same text; another seed gives other text', async () => {
    const text = async (extra: Record<string, unknown>) =>
      shapes.chatCompletion.parse(JSON.parse((await chat({ messages: hi, max_tokens: 30, ...extra })).body)).choices[0].message.content;
    const first = await text({ seed: 1 });
    expect(await text({ seed: 1 })).toBe(first);
    expect(await text({ seed: 2 })).not.toBe(first);
  });

  it('a stop sequence cuts the text before it, with finish_reason "stop"', async () => {
    const full = shapes.chatCompletion.parse(JSON.parse((await chat({ messages: hi, max_tokens: 100, seed: 7 })).body)).choices[0].message.content!;
    const stopWord = full.split(' ')[3]!;
    const stopped = shapes.chatCompletion.parse(JSON.parse((await chat({ messages: hi, max_tokens: 100, seed: 7, stop: [` ${stopWord}`] })).body));
    expect(stopped.choices[0].finish_reason).toBe('stop');
    expect(stopped.choices[0].message.content).toBe(full.slice(0, full.indexOf(` ${stopWord}`)));
  });

  it('the prompt cache: a repeated prompt reports cached tokens', async () => {
    const messages = [{ role: 'user', content: 'a long and unique prompt about caching prefixes' }];
    await chat({ messages, max_tokens: 1 });
    const body = shapes.chatCompletion.parse(JSON.parse((await chat({ messages, max_tokens: 1 })).body));
    expect(body.usage.prompt_tokens_details.cached_tokens).toBeGreaterThan(0);
  });

  it('logprobs when asked, in the 0.30.6+ shape', async () => {
    const body = shapes.chatCompletion.parse(JSON.parse((await chat({ messages: hi, max_tokens: 3, logprobs: true })).body));
    expect(body.choices[0].logprobs!.content.length).toBeGreaterThan(0);
  });

  it('streaming: keepalives, a delta per token with role, the final chunk, the usage chunk, [DONE]', async () => {
    const response = await chat({ messages: hi, max_tokens: 5, stream: true, stream_options: { include_usage: true } });
    expect(response.statusLine).toBe('HTTP/1.0 200 OK');
    expect(response.headers).toMatchObject({ 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    expect(response.headers).not.toHaveProperty('content-length');
    const { data, comments } = sse(response.body);
    expect(comments).toEqual([expect.stringMatching(/^: keepalive 0\/\d+$/), expect.stringMatching(/^: keepalive (\d+)\/\1$/)]);
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -2).map((d) => shapes.chatChunk.parse(JSON.parse(d)));
    const usage = shapes.usageChunk.parse(JSON.parse(data.at(-2)!));
    expect(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null && c.choices[0].delta.content)).toBe(true);
    expect(chunks.at(-1)!.choices[0]).toMatchObject({ finish_reason: 'length', delta: { role: 'assistant' } });
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(usage.usage.completion_tokens).toBe(5);
  });

  it('streaming without stream_options: no usage chunk', async () => {
    const { data } = sse((await chat({ messages: hi, max_tokens: 2, stream: true })).body);
    expect(data.at(-1)).toBe('[DONE]');
    expect(data.slice(0, -1).every((d) => shapes.chatChunk.safeParse(JSON.parse(d)).success)).toBe(true);
  });

  it('streaming with stream_options lacking include_usage: the stream ends without [DONE], as the real server’s KeyError does', async () => {
    const { data } = sse((await chat({ messages: hi, max_tokens: 2, stream: true, stream_options: {} })).body);
    expect(data).not.toContain('[DONE]');
    expect(shapes.chatChunk.parse(JSON.parse(data.at(-1)!)).choices[0].finish_reason).toBe('length');
  });
});

describe('text completions (§2.3)', () => {
  it('non-streaming and streaming shapes; the stream carries the same text', async () => {
    const request = { prompt: 'Once upon a time', max_tokens: 4 };
    const body = shapes.textCompletion.parse(JSON.parse((await send(post('/v1/completions', JSON.stringify(request)))).body));
    expect(body.choices[0].finish_reason).toBe('length');
    const streamed = { ...request, stream: true, stream_options: { include_usage: true } };
    const { data } = sse((await send(post('/v1/completions', JSON.stringify(streamed)))).body);
    expect(data.at(-1)).toBe('[DONE]');
    expect(shapes.usageChunk.parse(JSON.parse(data.at(-2)!)).usage.completion_tokens).toBe(4);
    const chunks = data.slice(0, -2).map((d) => shapes.textChunk.parse(JSON.parse(d)));
    expect(chunks.map((c) => c.choices[0].text).join('')).toBe(body.choices[0].text);
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe('length');
  });
});

describe('tool calls (§2.5)', () => {
  const tools = [
    { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city', 'days'] } } },
  ];
  const setToolMode = (mode: string) => send(post('/__standin/faults', JSON.stringify({ tool_calls: mode })));

  it('parsed (the default): tool_calls with uuid ids, content null, finish_reason "tool_calls"', async () => {
    const body = shapes.chatCompletion.parse(JSON.parse((await chat({ messages: [{ role: 'user', content: 'weather in Paris?' }], tools })).body));
    const message = body.choices[0].message;
    expect(body.choices[0].finish_reason).toBe('tool_calls');
    expect(message.content).toBeNull();
    expect(message.tool_calls).toHaveLength(1);
    expect(message.tool_calls![0]!.function.name).toBe('get_weather');
    expect(JSON.parse(message.tool_calls![0]!.function.arguments)).toEqual({ city: 'Paris', days: expect.any(Number) });
  });

  it('parsed, streamed: the whole call in one chunk with its index, then finish_reason "tool_calls"', async () => {
    const { data } = sse((await chat({ messages: [{ role: 'user', content: 'weather?' }], tools, stream: true })).body);
    const chunks = data.slice(0, -1).map((d) => shapes.chatChunk.parse(JSON.parse(d)));
    expect(chunks).toHaveLength(2);
    expect(chunks[0]!.choices[0].delta.tool_calls![0]).toMatchObject({ index: 0, type: 'function', function: { name: 'get_weather' } });
    expect(chunks[1]!.choices[0].finish_reason).toBe('tool_calls');
  });

  it('after a tool result the model answers in text', async () => {
    const messages = [
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: null, tool_calls: [{ id: '1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris", "days": 1}' } }] },
      { role: 'tool', tool_call_id: '1', content: 'sunny' },
    ];
    const body = shapes.chatCompletion.parse(JSON.parse((await chat({ messages, tools, max_tokens: 5 })).body));
    expect(body.choices[0].message.tool_calls).toBeUndefined();
    expect(body.choices[0].message.content).toBeTruthy();
  });

  it('raw markup left in content, in each format the real server drops', async () => {
    const markers: Record<string, RegExp> = {
      'raw:hermes': /^<tool_call>\n\{"name": "get_weather", "arguments": \{"city": "Paris", "days": \d+\}\}\n<\/tool_call>$/,
      'raw:qwen3_coder': /^<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n<\/parameter>\n<parameter=days>\n\d+\n<\/parameter>\n<\/function>\n<\/tool_call>$/,
      'raw:llama3_json': /^<\|python_tag\|>\{"name": "get_weather", "parameters": \{"city": "Paris", "days": \d+\}\}$/,
      'raw:mistral': /^\[TOOL_CALLS\]get_weather\[ARGS\]\{"city": "Paris", "days": \d+\}$/,
      'raw:harmony': /<\|start\|>assistant<\|channel\|>commentary to=functions\.get_weather <\|constrain\|>json<\|message\|>\{"city": "Paris", "days": \d+\}$/,
    };
    try {
      for (const [mode, pattern] of Object.entries(markers)) {
        expect((await setToolMode(mode)).status).toBe(200);
        const body = shapes.chatCompletion.parse(JSON.parse((await chat({ messages: [{ role: 'user', content: 'weather?' }], tools })).body));
        expect(body.choices[0].finish_reason, mode).toBe('stop');
        expect(body.choices[0].message.content, mode).toMatch(pattern);
        const { data } = sse((await chat({ messages: [{ role: 'user', content: 'weather?' }], tools, stream: true })).body);
        const streamed = data.slice(0, -1).map((d) => shapes.chatChunk.parse(JSON.parse(d)).choices[0].delta.content ?? '').join('');
        expect(streamed, mode).toBe(body.choices[0].message.content);
      }
    } finally {
      await setToolMode('parsed');
    }
  });

  it('"lost": the parser dropped the call, leaving finish_reason "tool_calls" and no calls', async () => {
    try {
      await setToolMode('lost');
      const body = shapes.chatCompletion.parse(JSON.parse((await chat({ messages: [{ role: 'user', content: 'weather?' }], tools })).body));
      expect(body.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { role: 'assistant', content: null } });
      expect(body.choices[0].message.tool_calls).toBeUndefined();
    } finally {
      await setToolMode('parsed');
    }
  });
});

describe('stderr mirrors the real server', () => {
  it('the start-up warning, "Starting httpd", and one access line per request', async () => {
    const log = standin.stderr.join('\n');
    expect(log).toContain('UserWarning: mlx_lm.server is not recommended for production as it only implements basic security checks.');
    // Not anchored at the line's start: the download progress bar (another thread, no newline
    // until it is done) may stand before it on the same line, on the real server as here.
    expect(log).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - INFO - Starting httpd at 127\.0\.0\.1 on port \d+\.\.\.$/m);
    await get('/health');
    await until('the access line', () =>
      standin.stderr.some((l) => /^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4} \d\d:\d\d:\d\d\] "GET \/health HTTP\/1\.1" 200 -$/.test(l)) ? true : undefined,
    );
  });
});
