// Hostile and careless input, each seen on a running instance: it is refused at a bounded cost,
// never reaches the model server, never opens the shared breaker, and leaks nothing.
import { existsSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { until } from '../support/processes.js';
import { post, rawRequest } from '../support/raw-http.js';
import { startSidecar } from '../support/sidecar.js';

const port = (url: string) => Number(new URL(url).port);
const chat = (extra: Record<string, unknown>) => JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, ...extra });

/** The slowest /health answer while `during` runs. */
async function slowestHealth(url: string, during: Promise<unknown>): Promise<number> {
  let slowest = 0;
  let done = false;
  const finished = during.finally(() => (done = true));
  while (!done) {
    const started = performance.now();
    await fetch(`${url}/health`, { signal: AbortSignal.timeout(10_000) });
    slowest = Math.max(slowest, performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await finished;
  return slowest;
}

describe('hostile input', () => {
  it('bodies of ~1 MB built to be costly to check are refused at a bounded cost: /health stays fast, memory stays put', async () => {
    const { url, sidecar } = await startSidecar();
    const manyTools = `{"messages": [{"role": "user", "content": "x"}], "tools": [${Array(330_000).fill('{}').join(',')}]}`;
    const justUnder = `{"messages": [{"role": "user", "content": "x"}], "tools": [${Array(4_096).fill('{}').join(',')}]}`;
    expect(manyTools.length).toBeLessThan(1_048_576);
    const heapBefore = process.memoryUsage().heapUsed;
    // Once it was 2.1 s for one such body, with /health stalled as long and 490 MB more memory.
    const alone = rawRequest(port(url), post('/v1/chat/completions', manyTools), 30_000);
    const healthAlone = await slowestHealth(url, alone);
    const refusals = Promise.all(Array.from({ length: 8 }, (_, i) => rawRequest(port(url), post('/v1/chat/completions', i % 2 ? manyTools : justUnder), 30_000)));
    const healthBeside8 = await slowestHealth(url, refusals);
    console.log(`slowest /health: ${healthAlone.toFixed(0)} ms beside one such body, ${healthBeside8.toFixed(0)} ms beside eight`);
    // Bounds with room for a loaded CI machine (this test shares its 2 cores with other files):
    // the old cost, 2.1 s per body on an idle machine, and 8 bodies one after another, is far past them.
    expect(healthAlone).toBeLessThan(1_000);
    expect(healthBeside8).toBeLessThan(2_000);
    const answers = [await alone, ...(await refusals)];
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(150 * 1024 * 1024);
    for (const answer of answers) expect(answer.status).toBe(400);
    expect(JSON.parse(answers[0]!.body).error).toMatchObject({ code: 'invalid_request', param: 'tools', message: 'tools: 330000 items; at most 4096 are accepted' });
    expect(JSON.parse(answers[1]!.body).error).toMatchObject({ code: 'invalid_request', param: 'tools[0].type' });
    expect(sidecar.inferenceBreaker.getMetrics().totalCalls).toBe(0);
  });

  it('deeply nested pass-through fields and tool-call arguments that are not JSON are refused by name; the breaker stays closed', async () => {
    const { url, sidecar } = await startSidecar();
    let deep: unknown = 'x';
    for (let i = 0; i < 1_000; i++) deep = { a: deep };
    const cases: Array<[string, string]> = [
      [chat({ chat_template_kwargs: deep }), 'chat_template_kwargs.a.a'],
      [chat({ role_mapping: { nested: JSON.parse(`${'['.repeat(40)}"x"${']'.repeat(40)}`) } }), 'role_mapping.nested'],
      [JSON.stringify({ messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"city": "Par' } }] }, { role: 'user', content: 'go on' }] }), 'messages[0].tool_calls[0].function.arguments'],
      [JSON.stringify({ messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '[1, 2]' } }] }] }), 'messages[0].tool_calls[0].function.arguments'],
    ];
    for (const [body, param] of cases) {
      const answer = await rawRequest(port(url), post('/v1/chat/completions', body));
      expect(answer.status, param).toBe(400);
      expect(JSON.parse(answer.body).error.param, param).toMatch(new RegExp(`^${param.replace(/[[\].]/g, '\\$&')}`));
    }
    expect(sidecar.inferenceBreaker.getMetrics().totalCalls).toBe(0);
    expect(sidecar.inferenceBreaker.getState()).toBe('closed');
    expect((await rawRequest(port(url), post('/v1/chat/completions', chat({ chat_template_kwargs: { enable_thinking: false } })))).status).toBe(200);
  });

  it('headers that trickle in get 408 within the headers deadline (15 s by default), not the 30 s+ Node would take', async () => {
    const { url } = await startSidecar({}, [], { atDefaults: true });
    const socket = connect(port(url), '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    const started = performance.now();
    socket.write('POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const trickle = setInterval(() => socket.write('X-Slow: 1\r\n'), 1_000);
    try {
      await until('the 408', () => (Buffer.concat(received).toString().startsWith('HTTP/1.1 408') ? true : undefined), 25_000);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
    expect(performance.now() - started).toBeLessThan(20_000);
    expect((await rawRequest(port(url), post('/v1/chat/completions', chat({})))).status).toBe(200);
  }, 40_000);

  it('with every connection slot taken, a newcomer is served and, past its grace, the connection waiting longest makes room (never one being served)', async () => {
    const { url, faults, sidecar } = await startSidecar({ maxConnections: 4 });
    await faults({ token_delay_ms: 300 });
    const silent: Socket[] = [];
    try {
      // Two sockets that send nothing, the oldest, then two streams being served for a second or more.
      for (let i = 0; i < 2; i++) {
        const socket = connect(port(url), '127.0.0.1');
        await new Promise((resolve) => socket.once('connect', resolve));
        socket.on('error', () => undefined);
        silent.push(socket);
      }
      const closedFirst = new Promise((resolve) => silent[0]!.once('close', resolve));
      const streams = Array.from({ length: 2 }, () => rawRequest(port(url), post('/v1/chat/completions', chat({ stream: true, max_tokens: 4 })), 20_000));
      await until('both streams being served', () => (sidecar.supervisor.journal.inFlight >= 2 ? true : undefined), 5_000);
      // A newcomer that stays (keep-alive): past the grace a new connection gets, the oldest silent one makes room.
      const newcomer = connect(port(url), '127.0.0.1');
      silent.push(newcomer);
      const answered = new Promise<string>((resolve) => newcomer.once('data', (chunk: Buffer) => resolve(chunk.toString())));
      newcomer.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      expect(await answered).toMatch(/^HTTP\/1\.1 200/);
      await closedFirst;
      expect(silent[1]!.destroyed).toBe(false);
      for (const answer of await Promise.all(streams)) {
        expect(answer.status).toBe(200);
        expect(answer.body).toContain('data: [DONE]');
      }
    } finally {
      for (const socket of silent) socket.destroy();
    }
  });
});

describe('nothing leaks', () => {
  it('a model server failure reaches the client as a public code and a plain message; the detail stays in the log', async () => {
    const { url, faults } = await startSidecar();
    for (const fault of [{ error_rate: 1 }, { drop_rate: 1 }]) {
      await faults({ error_rate: 0, drop_rate: 0, ...fault });
      for (const stream of [false, true]) {
        const answer = await rawRequest(port(url), post('/v1/chat/completions', chat({ stream })));
        const label = `${JSON.stringify(fault)} stream=${stream}`;
        expect(answer.status, label).toBe(502);
        expect(JSON.parse(answer.body).error, label).toMatchObject({ code: 'upstream_error', type: 'server_error' });
        expect(answer.body, label).not.toMatch(/UND_ERR|ECONNREFUSED|127\.0\.0\.1|answered 500|Traceback|err_upstream/i);
      }
    }
  });

  it('the model server does not inherit mlx-guard\'s secrets: its environment is allow-listed', async () => {
    if (!existsSync('/proc/self/environ')) return expect(process.platform).not.toBe('linux'); // read through /proc, which CI's Linux has
    const previous = process.env.MLX_GUARD_ADMIN_TOKEN;
    process.env.MLX_GUARD_ADMIN_TOKEN = 'a-secret-token-of-some-length';
    process.env.SOME_OTHER_SECRET = 'xyz';
    try {
      const { sidecar } = await startSidecar();
      const environ = readFileSync(`/proc/${sidecar.supervisor.status.pid}/environ`, 'utf8').split('\0');
      expect(environ.some((entry) => entry.startsWith('PATH='))).toBe(true);
      expect(environ.filter((entry) => entry.startsWith('MLX_GUARD_') || entry.startsWith('SOME_OTHER_SECRET'))).toEqual([]);
    } finally {
      if (previous === undefined) delete process.env.MLX_GUARD_ADMIN_TOKEN;
      else process.env.MLX_GUARD_ADMIN_TOKEN = previous;
      delete process.env.SOME_OTHER_SECRET;
    }
  });
});
