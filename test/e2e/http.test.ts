// mlx-guard's HTTP edge: bad input gets the right 4xx and nothing upstream; open breakers and a
// full queue answer 503 at once; health, metrics, status and admin actions.
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { until } from '../support/processes.js';
import { post, rawRequest } from '../support/raw-http.js';
import { startSidecar } from '../support/sidecar.js';

const port = (url: string) => Number(new URL(url).port);
const hi = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });

describe('bad input', () => {
  it('invalid JSON, wrong types, unknown routes and methods: the right 4xx, naming the problem; unknown fields are dropped', async () => {
    const { url, sidecar } = await startSidecar({ bodyLimitBytes: 4_096 });
    const send = (request: string | Buffer) => rawRequest(port(url), request);
    const cases: Array<[Buffer | string, number, RegExp]> = [
      [post('/v1/chat/completions', '{"messages": ['), 400, /the body is not valid JSON/],
      [post('/v1/chat/completions', '{"messages": [{"role": "user", "content": "x"}], "max_tokens": "ten"}'), 400, /max_tokens: Invalid input: expected number, received string/],
      [post('/v1/chat/completions', '{"messages": [{"role": "user", "content": "x"}], "temperature": -1}'), 400, /temperature: Too small/],
      [post('/v1/chat/completions', '{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}'), 400, /only text content parts are supported/],
      [post('/v1/completions', '{"max_tokens": 3}'), 400, /prompt: Invalid input/],
      [post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(5_000) }] })), 413, /limit is 4096/],
      ['GET /v2/nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 404, /no route GET \/v2\/nothing/],
      ['DELETE /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 405, /does not take DELETE/],
    ];
    for (const [request, status, message] of cases) {
      const response = await send(request);
      expect(response.status, String(message)).toBe(status);
      const body = JSON.parse(response.body) as { error: { message: string; type: string } };
      expect(body.error.message).toMatch(message);
      expect(response.body).not.toMatch(/\bat .+\.(ts|js):\d+/); // no stack traces
    }
    expect(sidecar.inferenceBreaker.getMetrics().totalCalls).toBe(0); // none of it reached the model server
    expect((await send(post('/v1/chat/completions', hi))).status).toBe(200);
    const unknownField = await send(post('/v1/chat/completions', '{"messages": [{"role": "user", "content": "x"}], "max_tokens": 2, "frobnicate": true}'));
    expect(unknownField.status).toBe(200);
  });

  it('a body that trickles in past the deadline: 408, and the server keeps serving', async () => {
    const { url } = await startSidecar({ bodyTimeoutMs: 300 });
    const socket = connect(port(url), '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.write('POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"messages"');
    await until('the 408', () => (Buffer.concat(received).toString().startsWith('HTTP/1.1 408') ? true : undefined), 3_000);
    socket.destroy();
    expect((await rawRequest(port(url), post('/v1/chat/completions', hi))).status).toBe(200);
  });
});

describe('starting', () => {
  it('the port opens at once: inference answers 503 with Retry-After and the start-up progress, /health says starting', async () => {
    let early: Promise<{ chat: { status: number; headers: Record<string, unknown>; body: string }; health: { status: number; body: string } }> | undefined;
    const { url } = await startSidecar({}, ['--load-time-ms', '2000'], {
      onListening: (listening) => {
        early = (async () => ({
          chat: await rawRequest(port(listening), post('/v1/chat/completions', hi)),
          health: await rawRequest(port(listening), 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'),
        }))();
      },
    });
    const { chat, health } = await early!;
    expect(chat.status).toBe(503);
    expect(Number(chat.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(chat.body).error).toMatchObject({ code: 'model_server_unavailable', message: expect.stringMatching(/the model server is starting \(.+\); retry shortly/) });
    expect(health.status).toBe(503);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'unavailable', modelServer: { state: 'starting' } });
    expect((await rawRequest(port(url), post('/v1/chat/completions', hi))).status).toBe(200);
  });
});

describe('failing fast', () => {
  it('an open inference breaker: 503 within milliseconds, with Retry-After and a reason', async () => {
    const { url, sidecar } = await startSidecar();
    const hold = sidecar.inferenceBreaker.isolate();
    const started = performance.now();
    const response = await rawRequest(port(url), post('/v1/chat/completions', hi));
    const elapsed = performance.now() - started;
    hold.dispose();
    expect(response.status).toBe(503);
    expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(response.body).error).toMatchObject({ code: 'breaker_open', type: 'service_unavailable' });
    expect(elapsed).toBeLessThan(1_000); // a bound against hanging, not a benchmark (bench/ measures it)
  });

  it('a full queue: 503 at once, never unbounded waiting', async () => {
    const { url, faults } = await startSidecar({ maxPendingRequests: 2 }, ['--token-delay-ms', '100']);
    await faults({ token_delay_ms: 100 });
    const slow = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    const inFlight = [rawRequest(port(url), post('/v1/chat/completions', slow)), rawRequest(port(url), post('/v1/chat/completions', slow))];
    await new Promise((resolve) => setTimeout(resolve, 100));
    const refused = await rawRequest(port(url), post('/v1/chat/completions', slow));
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.body).error.code).toBe('queue_full');
    expect((await Promise.all(inFlight)).map((r) => r.status)).toEqual([200, 200]);
  });
});

describe('capacity and text mode', () => {
  it('32 concurrent streams are served at once (the real server batches up to 32)', async () => {
    const { url, faults, sidecar } = await startSidecar();
    await faults({ token_delay_ms: 40 });
    let peak = 0;
    const watch = setInterval(() => {
      peak = Math.max(peak, (sidecar.inferenceBreaker.getMetrics().totalCalls - sidecar.inferenceBreaker.getMetrics().successes));
    }, 10);
    const streams = Array.from({ length: 32 }, (_, i) =>
      rawRequest(port(url), post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: `stream ${i}` }], max_tokens: 10, stream: true })), 15_000),
    );
    const answers = await Promise.all(streams).finally(() => clearInterval(watch));
    expect(answers.every((a) => a.status === 200 && a.body.includes('data: [DONE]'))).toBe(true);
    expect(peak).toBe(32);
  });

  it('an open parse breaker: responses pass through unparsed, with a header saying so', async () => {
    const { url, sidecar, faults } = await startSidecar();
    await faults({ tool_calls: 'raw:hermes' });
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const request = (stream: boolean) => post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'weather?' }], tools, stream }));
    const hold = sidecar.parseBreaker.isolate();
    try {
      const whole = await rawRequest(port(url), request(false));
      expect(whole.headers['x-mlx-guard-tool-parsing']).toBe('off (parse breaker open)');
      expect(JSON.parse(whole.body).choices[0].message.content).toMatch(/^<tool_call>/);
      const streamed = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        body: JSON.stringify({ messages: [{ role: 'user', content: 'weather?' }], tools, stream: true }),
        signal: AbortSignal.timeout(10_000),
      });
      expect(streamed.headers.get('x-mlx-guard-tool-parsing')).toBe('off (parse breaker open)');
      const content = (await streamed.text())
        .split('\n\n')
        .filter((frame) => frame.startsWith('data: {'))
        .map((frame) => (JSON.parse(frame.slice(6)) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '')
        .join('');
      expect(content).toMatch(/^<tool_call>/);
    } finally {
      hold.dispose();
    }
    const parsed = await rawRequest(port(url), request(false));
    expect(parsed.headers['x-mlx-guard-tool-parsing']).toBeUndefined();
    expect(JSON.parse(parsed.body).choices[0].message.tool_calls).toHaveLength(1);
  });
});

describe('a tool call that does not parse', () => {
  it('passes through as text, and the header (whole) or a comment at the end (stream) says so and why', async () => {
    const { url, faults } = await startSidecar();
    await faults({ tool_calls: 'raw:llama3_json_cut' });
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const body = (stream: boolean) => JSON.stringify({ messages: [{ role: 'user', content: 'weather?' }], tools, stream });
    const whole = await rawRequest(port(url), post('/v1/chat/completions', body(false)));
    expect(whole.status).toBe(200);
    expect(whole.headers['x-mlx-guard-tool-parsing']).toMatch(/^error \(llama3_json: the answer opens as a call of get_weather that does not parse: .*truncated/);
    const message = JSON.parse(whole.body).choices[0].message;
    expect(message.content).toMatch(/^\{"name": "get_weather", "parameters": \{/);
    expect(message.tool_calls).toBeUndefined();

    const streamed = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: body(true), signal: AbortSignal.timeout(10_000) });
    const frames = (await streamed.text()).split('\n\n');
    const content = frames
      .filter((frame) => frame.startsWith('data: {'))
      .map((frame) => (JSON.parse(frame.slice(6)) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '')
      .join('');
    expect(content).toBe(message.content);
    const note = frames.findIndex((frame) => frame.startsWith(': mlx-guard: tool parsing error (llama3_json: the answer opens as a call of get_weather'));
    expect(note).toBeGreaterThan(0);
    expect(frames.indexOf('data: [DONE]')).toBeGreaterThan(note);
  });
});

describe('observability and control', () => {
  it('/health, /metrics and /status describe each part', async () => {
    const { url, sidecar } = await startSidecar();
    await rawRequest(port(url), post('/v1/chat/completions', hi));
    expect(JSON.parse((await rawRequest(port(url), 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).body)).toEqual({
      status: 'ok',
      modelServer: { state: 'ready', detail: expect.any(String) },
      breakers: { inference: 'closed', parse: 'closed' },
    });
    const metrics = (await rawRequest(port(url), 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).body;
    expect(metrics).toMatch(/mlx_guard_requests_total\{route="\/v1\/chat\/completions",status="200"\} 1/);
    expect(metrics).toMatch(/mlx_guard_breaker_inference_state 0/);
    expect(metrics).toMatch(/mlx_guard_model_server_time_to_ready_seconds \d/);
    const status = JSON.parse((await rawRequest(port(url), 'GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).body);
    expect(status).toMatchObject({ modelServer: { state: 'ready' }, breakers: { inference: { state: 'closed', metrics: { successes: 1 } } } });
    const hold = sidecar.inferenceBreaker.isolate();
    expect((await rawRequest(port(url), 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).status).toBe(503);
    hold.dispose();
  });

  it('a request that asks for its timeline gets it as Server-Timing, both threads on one clock; others get none', async () => {
    const { url } = await startSidecar();
    const ask = { 'content-type': 'application/json', 'x-mlx-guard-timing': '1' };
    const phases = (header: string | null) => (header ?? '').split(', ').map((part) => {
      const [name, dur] = part.split(';dur=');
      return { name, ms: Number(dur) };
    });
    for (const stream of [false, true]) {
      const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: ask, body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, stream }) });
      await response.text();
      const timeline = phases(response.headers.get('server-timing'));
      const names = timeline.map((phase) => phase.name);
      // The order reached: read and checked on the main thread, then the worker's upstream call, then the answer.
      for (const [before, after] of [['body', 'checked'], ['checked', 'admitted'], ['admitted', 'dispatched'], ['dispatched', 'worker'], ['worker', 'upstream_headers'], ['upstream_headers', 'upstream_first_event'], ['upstream_first_event', 'respond']]) {
        expect(names.indexOf(before!), `${stream ? 'stream' : 'whole'}: ${names.join(' ')}`).toBeLessThan(names.indexOf(after!));
        expect(names.indexOf(before!)).toBeGreaterThanOrEqual(0);
      }
      expect(timeline.every((phase, i) => phase.ms >= 0 && (i === 0 || phase.ms >= timeline[i - 1]!.ms))).toBe(true);
    }
    const plain = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: hi });
    await plain.text();
    expect(plain.headers.get('server-timing')).toBeNull();
  });

  it('admin actions: open on loopback without a token; with a token configured, only with it', async () => {
    const open = await startSidecar();
    expect((await rawRequest(port(open.url), post('/admin/breakers/inference/reset', ''))).status).toBe(200);
    const guarded = await startSidecar({ adminToken: 'correct-horse-battery' });
    expect((await rawRequest(port(guarded.url), post('/admin/breakers/parse/reset', ''))).status).toBe(401);
    expect((await rawRequest(port(guarded.url), post('/admin/breakers/parse/reset', '', 'Authorization: Bearer correct-horse-battery\r\n'))).status).toBe(200);
    const before = guarded.sidecar.supervisor.status.pid;
    expect((await rawRequest(port(guarded.url), post('/admin/restart', '', 'Authorization: Bearer correct-horse-battery\r\n'))).status).toBe(202);
    await until('a new model server', () => (guarded.sidecar.supervisor.state === 'ready' && guarded.sidecar.supervisor.status.pid !== before ? true : undefined), 10_000);
  });
});

/** A request written out by hand, so Host, Origin and Content-Type are exactly as given. */
function request(method: string, path: string, headers: Record<string, string>, body = ''): string {
  const lines = Object.entries({ host: '127.0.0.1', ...headers, 'content-length': String(Buffer.byteLength(body)) }).map(([name, value]) => `${name}: ${value}`);
  return `${method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}

describe('web pages, origins and hosts', () => {
  it('a loopback page (a local chat UI) gets its preflight answered and CORS headers on the answer', async () => {
    const { url } = await startSidecar();
    const origin = 'http://localhost:3000';
    const preflight = await rawRequest(port(url), request('OPTIONS', '/v1/chat/completions', { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, x-stainless-os' }));
    expect(preflight.status).toBe(204);
    expect(preflight.headers).toMatchObject({ 'access-control-allow-origin': origin, 'access-control-allow-headers': 'authorization, content-type, x-stainless-os', vary: 'Origin' });
    expect(preflight.headers['access-control-allow-methods']).toBe('POST, OPTIONS');
    const answer = await rawRequest(port(url), request('POST', '/v1/chat/completions', { origin, 'content-type': 'application/json' }, hi));
    expect(answer.status).toBe(200);
    expect(answer.headers['access-control-allow-origin']).toBe(origin);
    expect(answer.headers['access-control-expose-headers']).toMatch(/retry-after/);
  });

  it('a page from a foreign origin is refused (inference, admin, preflight), unless allowed by configuration', async () => {
    const { url, sidecar } = await startSidecar({ allowedOrigins: ['https://chat.example.org'] });
    const evil = { origin: 'https://evil.example' };
    for (const attempt of [
      request('POST', '/v1/chat/completions', { ...evil, 'content-type': 'text/plain' }, hi),
      request('POST', '/admin/breakers/inference/reset', { ...evil, 'content-type': 'text/plain' }, '{}'),
      request('OPTIONS', '/v1/chat/completions', { ...evil, 'access-control-request-method': 'POST' }),
      request('GET', '/status', { origin: 'null' }),
    ]) {
      const response = await rawRequest(port(url), attempt);
      expect(response.status, attempt.split('\r\n')[0]).toBe(403);
      expect(JSON.parse(response.body).error).toMatchObject({ code: 'forbidden', type: 'permission_error', message: expect.stringMatching(/may not call mlx-guard; add the origin to allowedOrigins/) });
      expect(response.headers['access-control-allow-origin']).toBeUndefined();
    }
    expect(sidecar.inferenceBreaker.getMetrics().totalCalls).toBe(0);
    const allowed = await rawRequest(port(url), request('POST', '/v1/chat/completions', { origin: 'https://chat.example.org', 'content-type': 'application/json' }, hi));
    expect(allowed.status).toBe(200);
    expect(allowed.headers['access-control-allow-origin']).toBe('https://chat.example.org');
  });

  it('bound to loopback, a foreign Host (DNS rebinding) is refused; loopback names with any port are served', async () => {
    const { url } = await startSidecar();
    const rebound = await rawRequest(port(url), request('GET', '/status', { host: `attacker.example:${port(url)}` }));
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body).error.message).toMatch(/Host "attacker\.example:\d+" is not a name of this loopback server/);
    for (const host of [`localhost:${port(url)}`, `127.0.0.1:${port(url)}`, `[::1]:${port(url)}`, 'LOCALHOST']) {
      expect((await rawRequest(port(url), request('GET', '/health', { host }))).status, host).toBe(200);
    }
  });

  it('an admin POST with a non-JSON body is refused even from a script; curl -d (a form type) still reaches inference', async () => {
    const { url, sidecar } = await startSidecar();
    const hold = sidecar.inferenceBreaker.isolate();
    const before = sidecar.inferenceBreaker.getState();
    const form = await rawRequest(port(url), request('POST', '/admin/breakers/inference/reset', { 'content-type': 'text/plain' }, 'x'));
    expect(form.status).toBe(415);
    expect(JSON.parse(form.body).error.message).toMatch(/admin actions take no body or a JSON one \(got Content-Type: text\/plain\)/);
    expect(sidecar.inferenceBreaker.getState()).toBe(before); // not reset
    hold.dispose();
    expect((await rawRequest(port(url), request('POST', '/admin/breakers/inference/reset', {}))).status).toBe(200);
    const curl = await rawRequest(port(url), request('POST', '/v1/chat/completions', { 'content-type': 'application/x-www-form-urlencoded' }, hi));
    expect(curl.status).toBe(200);
  });
});

describe('drain', () => {
  it('POST /admin/drain: /health answers 503 "draining" at once while requests are still served; /admin/undrain takes it back', async () => {
    const { url } = await startSidecar();
    const health = async () => {
      const response = await rawRequest(port(url), request('GET', '/health', {}));
      return { status: response.status, body: JSON.parse(response.body) as { status: string } };
    };
    expect((await health()).status).toBe(200);
    expect((await rawRequest(port(url), request('POST', '/admin/drain', {}))).status).toBe(200);
    expect(await health()).toMatchObject({ status: 503, body: { status: 'draining' } });
    expect((await rawRequest(port(url), post('/v1/chat/completions', hi))).status).toBe(200);
    expect((await rawRequest(port(url), request('POST', '/admin/undrain', {}))).status).toBe(200);
    expect(await health()).toMatchObject({ status: 200, body: { status: 'ok' } });
  });
});

describe('models', () => {
  it('/v1/models names the served model and the allow-list; /v1/models/{id} answers for those alone', async () => {
    const { url, client } = await startSidecar({ models: { allow: ['org/other-model'] } });
    expect((await client.models.list()).data.map((model) => model.id)).toEqual(['org/test-model', 'org/other-model']);
    expect((await client.models.retrieve('org/test-model')).id).toBe('org/test-model');
    const missing = await rawRequest(port(url), request('GET', '/v1/models/gpt-4o', {}));
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body).error.message).toBe('no model "gpt-4o" is served here; GET /v1/models lists those that are');
  });

  it('a model name outside the allow-list is answered by the served model (and echoed); a listed one goes to the model server', async () => {
    const { client } = await startSidecar({ models: { allow: ['org/not-downloaded'] } });
    const pinned = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    expect(pinned.model).toBe('gpt-4o');
    // The stand-in, like mlx_lm.server, tries to load a name it is sent, and cannot find this one.
    await expect(client.chat.completions.create({ model: 'org/not-downloaded', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 })).rejects.toMatchObject({ status: 404 });
  });
});
