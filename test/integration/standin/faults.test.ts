// Each fault of the stand-in, observable as it is in the real server (docs/mlx-lm.md),
// set by flag at start or through the control endpoint, and (where the real server recovers) back.
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { isAlive, startStandin, spawnProcess, nativeHost, python, until } from '../../support/processes.js';
import { post, rawRequest, sse } from '../../support/raw-http.js';

const hi = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
const hiStream = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 20, stream: true });

/** Resolves with the bytes received if the response finishes within `ms`, else with 'pending'. */
async function within(ms: number, response: Promise<{ bytes: Buffer }>): Promise<Buffer | 'pending'> {
  return Promise.race([response.then((r) => r.bytes), new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms))]);
}

/** Opens a connection, sends `request`, and collects what arrives, without waiting for the close. */
function openStream(port: number, request: Buffer) {
  const socket = connect(port, '127.0.0.1');
  const received: Buffer[] = [];
  let closed = false;
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  socket.on('close', () => (closed = true));
  socket.on('error', () => (closed = true));
  socket.write(request);
  return {
    text: () => Buffer.concat(received).toString(),
    isClosed: () => closed,
    destroy: () => socket.destroy(),
  };
}

describe('faults', () => {
  it('crash mid-stream: the Metal OOM line, SIGABRT, and a stream cut without [DONE]', async () => {
    const standin = await startStandin(['--crash-after-tokens', '3']);
    const response = await rawRequest(standin.portNumber, post('/v1/chat/completions', hiStream));
    const { data } = sse(response.body);
    expect(data.length).toBeGreaterThan(0);
    expect(data).not.toContain('[DONE]');
    expect(await standin.exited()).toEqual({ code: null, signal: 'SIGABRT' });
    expect(standin.stderr).toContain(
      'libc++abi: terminating due to uncaught exception of type std::runtime_error: [METAL] Command buffer execution failed: Insufficient Memory (00000008:kIOGPUCommandBufferCallbackErrorOutOfMemory)',
    );
  });

  it('zombie: the generation thread dies with the real traceback; /health and /v1/models answer, completions hang', async () => {
    const standin = await startStandin(['--control', '--model', 'm']);
    expect((await rawRequest(standin.portNumber, post('/v1/chat/completions', hi))).status).toBe(200);
    expect((await rawRequest(standin.portNumber, post('/__standin/faults', '{"zombie": true}'))).status).toBe(200);
    const first = rawRequest(standin.portNumber, post('/v1/chat/completions', hi));
    await until('the thread-death traceback', () => (standin.stderr.some((l) => l.startsWith('RuntimeError: [metal::malloc]')) ? true : undefined));
    expect(standin.stderr).toContain('Exception in thread Thread-1 (_generate):');
    expect(await within(300, first)).toBe('pending');
    expect(await within(300, rawRequest(standin.portNumber, post('/v1/chat/completions', hi)))).toBe('pending');
    expect((await rawRequest(standin.portNumber, 'GET /health HTTP/1.1\r\n\r\n')).body).toBe('{"status": "ok"}');
    expect((await rawRequest(standin.portNumber, 'GET /v1/models HTTP/1.1\r\n\r\n')).status).toBe(200);
    expect(isAlive(standin.pid)).toBe(true);
  });

  it('hang after prefill: headers and keepalives, then nothing, until the fault is cleared', async () => {
    const standin = await startStandin(['--control', '--hang-after-prefill']);
    const stream = openStream(standin.portNumber, post('/v1/chat/completions', hiStream));
    await until('the keepalive', () => (stream.text().includes(': keepalive') ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(stream.text()).not.toContain('data:');
    expect((await rawRequest(standin.portNumber, 'GET /health HTTP/1.1\r\n\r\n')).status).toBe(200);
    await rawRequest(standin.portNumber, post('/__standin/faults', '{"hang_after_prefill": false}'));
    await until('the stream to finish', () => (stream.isClosed() ? true : undefined));
    expect(stream.text()).toContain('data: [DONE]');
  });

  it('slow tokens: a token delay spaces the chunks out', async () => {
    const standin = await startStandin(['--token-delay-ms', '40']);
    const started = Date.now();
    const { data } = sse((await rawRequest(standin.portNumber, post('/v1/chat/completions', hiStream.replace('"max_tokens": 20', '"max_tokens": 6')))).body);
    expect(data.at(-1)).toBe('[DONE]');
    expect(Date.now() - started).toBeGreaterThanOrEqual(6 * 40);
  });

  it('HTTP 5xx at a rate: all at 1.0, none at 0, a seeded mix at 0.5', async () => {
    const standin = await startStandin(['--control', '--error-rate', '1', '--fault-seed', '42']);
    const failed = await rawRequest(standin.portNumber, post('/v1/chat/completions', hi));
    expect(failed.status).toBe(500);
    expect(JSON.parse(failed.body)).toEqual({ error: 'Internal server error (injected by the stand-in)' });
    await rawRequest(standin.portNumber, post('/__standin/faults', '{"error_rate": 0.5}'));
    const statuses = [];
    for (let i = 0; i < 20; i++) statuses.push((await rawRequest(standin.portNumber, post('/v1/chat/completions', hi))).status);
    expect(statuses).toContain(500);
    expect(statuses).toContain(200);
    await rawRequest(standin.portNumber, post('/__standin/faults', '{"error_rate": 0}'));
    expect((await rawRequest(standin.portNumber, post('/v1/chat/completions', hi))).status).toBe(200);
  });

  it('dropped connections: closed with zero bytes', async () => {
    const standin = await startStandin(['--drop-rate', '1']);
    expect((await rawRequest(standin.portNumber, post('/v1/chat/completions', hi))).bytes.length).toBe(0);
    expect((await rawRequest(standin.portNumber, 'GET /health HTTP/1.1\r\n\r\n')).status).toBe(200);
  });

  it('exit during start: a traceback and exit code 1', async () => {
    const standin = spawnProcess(python, [`${nativeHost}/standin`, '--port', '0', '--model', 'local/missing', '--exit-during-load']);
    expect((await standin.exited()).code).toBe(1);
    expect(standin.stderr.join('\n')).toMatch(/Traceback \(most recent call last\):[\s\S]*FileNotFoundError: No safetensors found in local\/missing/);
  });

  it('"Address already in use" printed, and the process never exits (its generation thread lives on)', async () => {
    const standin = spawnProcess(python, [`${nativeHost}/standin`, '--port', '0', '--bind-failure']);
    await until('the bind error', () => (standin.stderr.some((l) => /^OSError: \[Errno (98|48)\] Address already in use$/.test(l)) ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(isAlive(standin.pid)).toBe(true);
    expect(standin.child.exitCode).toBeNull();
  });

  it('a port another server holds gives the same: a traceback, no exit', async () => {
    const first = await startStandin();
    const second = spawnProcess(python, [`${nativeHost}/standin`, '--port', String(first.portNumber)]);
    await until('the bind error', () => (second.stderr.some((l) => l.includes('Address already in use')) ? true : undefined));
    expect(isAlive(second.pid)).toBe(true);
  });

  it('stall during load: the port answers /health, completions get no bytes, and nothing more is logged', async () => {
    const standin = await startStandin(['--model', 'local/model', '--load-stall']);
    expect((await rawRequest(standin.portNumber, 'GET /health HTTP/1.1\r\n\r\n')).status).toBe(200);
    const lines = standin.stderr.length;
    expect(await within(400, rawRequest(standin.portNumber, post('/v1/chat/completions', hi)))).toBe('pending');
    expect(standin.stderr.slice(lines).filter((l) => !l.includes('"GET /health'))).toEqual([]);
  });

  it('>= 0.31.3 start-up: the port opens and /health is OK before the model is loaded; completions wait for it', async () => {
    const standin = await startStandin(['--model', 'org/repo', '--load-time-ms', '700']);
    const sent = Date.now();
    expect((await rawRequest(standin.portNumber, 'GET /health HTTP/1.1\r\n\r\n')).status).toBe(200);
    const completion = await rawRequest(standin.portNumber, post('/v1/chat/completions', hi));
    expect(completion.status).toBe(200);
    expect(Date.now() - sent).toBeGreaterThanOrEqual(400);
    const log = standin.stderr.join('\n');
    expect(log.indexOf('Starting httpd')).toBeLessThan(log.indexOf('Fetching 9 files: 100%'));
  });

  it('<= 0.31.2 start-up: the model loads first, then the port binds', async () => {
    const standin = await startStandin(['--model', 'org/repo', '--load-time-ms', '300', '--bind-after-load']);
    const log = standin.stderr.join('\n');
    expect(log.indexOf('Fetching 9 files: 100%')).toBeGreaterThan(-1);
    expect(log.indexOf('Fetching 9 files: 100%')).toBeLessThan(log.indexOf('Starting httpd'));
  });

  it('serial (<= 0.28.3): /health waits while a completion is being served', async () => {
    const standin = await startStandin(['--serial', '--token-delay-ms', '60']);
    const stream = rawRequest(standin.portNumber, post('/v1/chat/completions', hiStream.replace('"max_tokens": 20', '"max_tokens": 8')));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const health = rawRequest(standin.portNumber, 'GET /health HTTP/1.1\r\n\r\n');
    expect(await within(150, health)).toBe('pending');
    await stream;
    expect((await health).status).toBe(200);
  });

  it('concurrent (default): /health answers while a completion is being served', async () => {
    const standin = await startStandin(['--token-delay-ms', '60']);
    const stream = rawRequest(standin.portNumber, post('/v1/chat/completions', hiStream.replace('"max_tokens": 20', '"max_tokens": 8')));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await within(150, rawRequest(standin.portNumber, 'GET /health HTTP/1.1\r\n\r\n'))).not.toBe('pending');
    await stream;
  });

  it('SIGSTOP is a real hang and SIGCONT ends it', async () => {
    const standin = await startStandin();
    process.kill(standin.pid, 'SIGSTOP');
    const health = rawRequest(standin.portNumber, 'GET /health HTTP/1.1\r\n\r\n');
    expect(await within(300, health)).toBe('pending');
    process.kill(standin.pid, 'SIGCONT');
    expect((await health).status).toBe(200);
  });

  it('the control endpoint exists only with --control, and names a bad field', async () => {
    const plain = await startStandin();
    expect((await rawRequest(plain.portNumber, post('/__standin/faults', '{"zombie": true}'))).status).toBe(404);
    const controlled = await startStandin(['--control']);
    const bad = await rawRequest(controlled.portNumber, post('/__standin/faults', '{"error_rate": 2}'));
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error).toBe("fault 'error_rate' must be between 0 and 1");
    const unknown = await rawRequest(controlled.portNumber, post('/__standin/faults', '{"explode": true}'));
    expect(JSON.parse(unknown.body).error).toMatch(/^unknown fault 'explode'; known: zombie, /);
    const state = JSON.parse((await rawRequest(controlled.portNumber, 'GET /__standin/faults HTTP/1.1\r\n\r\n')).body);
    expect(state).toMatchObject({ zombie: false, error_rate: 0, tool_calls: 'parsed' });
  });
});
