// The upstream client against the stand-in: answers, and each failure with its code.
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { mergeWhole, OpenAiWholeFraming } from '../../../src/answer/index.js';
import { CompletionAggregator, sanitizeRequest } from '../../../src/openai/index.js';
import { completeOnce, streamCompletion, UpstreamError, type SseEvent } from '../../../src/upstream/index.js';
import * as shapes from '../../support/mlx-schemas.js';
import { startStandin } from '../../support/processes.js';
import { startLoopbackServer } from '../../support/loopback-server.js';
import { post, rawRequest } from '../../support/raw-http.js';

const timeouts = { headersTimeoutMs: 5_000, idleTimeoutMs: 5_000 };
const chat = (extra: Record<string, unknown> = {}) => sanitizeRequest({ model: 'client-name', messages: [{ role: 'user', content: 'hi' }], max_tokens: 6, ...extra });

async function collect(stream: AsyncGenerator<SseEvent>): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

describe('upstream client', () => {
  it('streams a sanitised request and aggregates it into the non-streaming shape, with the client’s model', async () => {
    const standin = await startStandin(['--model', 'org/model']);
    // null fields, an integer xtc value and a foreign model name would each break the real server.
    const request = chat({ temperature: null, xtc_probability: 0 });
    const events = await collect(streamCompletion(`${standin.baseUrl}/v1/chat/completions`, request.body, timeouts));
    expect(events.at(-1)).toEqual({ type: 'done' });
    expect(events.filter((e) => e.type === 'comment')).toHaveLength(2);
    const aggregator = new CompletionAggregator('chat', 'default_model');
    for (const event of events) if (event.type === 'data') aggregator.add(JSON.parse(event.data) as Record<string, unknown>);
    const result = shapes.chatCompletion.parse(new OpenAiWholeFraming(request.clientModel).body(mergeWhole(aggregator.result()).completion));
    expect(result.model).toBe('client-name');
    expect(result.usage.completion_tokens).toBe(6);
  });

  it('a server that closes the connection after each streamed answer without saying so (llama.cpp\'s): back-to-back streams all succeed, and it is learnt once', async () => {
    // llama.cpp's server (3.21.1) closes each stream's connection right after the answer while
    // its headers promise keep-alive, and a request that crosses the close is never read: here,
    // every request that arrives on a connection that already carried a stream is dropped unread.
    const carriedStream = new WeakSet<object>();
    let dropped = 0;
    const server = await startLoopbackServer((req, res) => {
      if (carriedStream.has(req.socket)) {
        dropped++;
        req.socket.destroy();
        return;
      }
      carriedStream.add(req.socket);
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'keep-alive': 'timeout=5, max=100' });
        res.end(`data: ${JSON.stringify({ choices: [{ index: 0, finish_reason: 'stop', delta: { content: 'x' } }] })}\n\ndata: [DONE]\n\n`);
      });
    });
    try {
      for (let i = 0; i < 200; i++) {
        const events = await collect(streamCompletion(`${server.url}/v1/chat/completions`, chat().body, timeouts));
        expect(events.at(-1), `stream ${i}`).toEqual({ type: 'done' });
      }
      // The first dropped request was sent again on a connection of its own, and from then on
      // every call to this server had one.
      expect(dropped).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('a server that keeps its connections: calls share them instead of connecting each time', async () => {
    const sockets = new Set<unknown>();
    const server = await startLoopbackServer((req, res) => {
      sockets.add(req.socket);
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(`data: ${JSON.stringify({ choices: [{ index: 0, finish_reason: 'stop', delta: { content: 'x' } }] })}\n\ndata: [DONE]\n\n`);
      });
    });
    try {
      for (let i = 0; i < 50; i++) await collect(streamCompletion(`${server.url}/v1/chat/completions`, chat().body, timeouts));
      // One, or two when a call leaves before undici took the previous one's connection back.
      expect(sockets.size).toBeLessThanOrEqual(2);
    } finally {
      await server.close();
    }
  });

  it('logprobs: one non-streaming answer', async () => {
    const standin = await startStandin();
    const request = chat({ logprobs: true, top_logprobs: 50 });
    const answer = await completeOnce(`${standin.baseUrl}/v1/chat/completions`, request.body, timeouts);
    expect(shapes.chatCompletion.parse(answer).choices[0].logprobs?.content.length).toBeGreaterThan(0);
  });

  it('a stall after prefill → ERR_UPSTREAM_STALL once the idle timeout passes', async () => {
    const standin = await startStandin(['--hang-after-prefill']);
    const error = await collect(streamCompletion(`${standin.baseUrl}/v1/chat/completions`, chat().body, { headersTimeoutMs: 5_000, idleTimeoutMs: 400 })).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_UPSTREAM_STALL', countsAsFailure: true });
  });

  it('a crash mid-stream → the stream is cut before [DONE]: a failure', async () => {
    const standin = await startStandin(['--crash-after-tokens', '2']);
    const error = await collect(streamCompletion(`${standin.baseUrl}/v1/chat/completions`, chat({ max_tokens: 20 }).body, timeouts)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamError);
    expect(['ERR_UPSTREAM_INCOMPLETE', 'ERR_UPSTREAM_CONNECTION']).toContain((error as UpstreamError).code);
    expect((error as UpstreamError).countsAsFailure).toBe(true);
  });

  it('HTTP 500 → ERR_UPSTREAM_STATUS counted as a failure, with the server’s message', async () => {
    const standin = await startStandin(['--error-rate', '1']);
    const error = await collect(streamCompletion(`${standin.baseUrl}/v1/chat/completions`, chat().body, timeouts)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_UPSTREAM_STATUS', status: 500, countsAsFailure: true });
    expect((error as Error).message).toContain('injected by the stand-in');
  });

  it('nothing listening → ERR_UPSTREAM_CONNECTION', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const error = await collect(streamCompletion(`http://127.0.0.1:${port}/v1/chat/completions`, chat().body, timeouts)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_UPSTREAM_CONNECTION', countsAsFailure: true });
  });

  it('the caller’s abort passes through as itself (ignored, not a failure); the server keeps serving', async () => {
    const standin = await startStandin(['--control', '--token-delay-ms', '50']);
    const controller = new AbortController();
    const stream = streamCompletion(`${standin.baseUrl}/v1/chat/completions`, chat({ max_tokens: 200 }).body, { ...timeouts, signal: controller.signal });
    const first = await stream.next();
    expect(first.done).toBe(false);
    controller.abort(new DOMException('client went away', 'AbortError'));
    const error = await collect(stream).catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    expect((await rawRequest(standin.portNumber, post('/__standin/faults', '{}'))).status).toBe(200);
  });

  it('a whole answer larger than the cap is refused (ERR_UPSTREAM_PROTOCOL), not read into memory; one under it arrives whole, multi-byte characters intact', async () => {
    const big = JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: 'é€😀'.repeat(40_000) } }] });
    const server = await startLoopbackServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      // In small writes of bytes, so that multi-byte characters straddle reads.
      const bytes = Buffer.from(big);
      for (let i = 0; i < bytes.length; i += 997) res.write(bytes.subarray(i, i + 997));
      res.end();
    });
    try {
      const refused = await completeOnce(`${server.url}/v1/chat/completions`, chat().body, { ...timeouts, maxBodyBytes: 64 * 1024 }).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'ERR_UPSTREAM_PROTOCOL', message: expect.stringContaining('larger than 65536 bytes') });
      const whole = await completeOnce(`${server.url}/v1/chat/completions`, chat().body, timeouts);
      expect(JSON.stringify(whole)).toBe(big);
    } finally {
      await server.close();
    }
  });
});
