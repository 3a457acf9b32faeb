// A client that reads slower than the model writes: the inference worker stops reading the
// upstream stream while paused, so the model server's writes wait instead of mlx-guard buffering.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { silentLogger } from '../../../src/observability/logger.js';
import type { InferMessage } from '../../../src/pool/messages.js';
import { Pools, type AttemptControl } from '../../../src/pool/pools.js';
import { until } from '../../support/processes.js';

it('paused, the worker stops reading: the upstream cannot finish writing until it resumes; then nothing is missing', async () => {
  const CHUNKS = 4_000;
  const piece = 'x'.repeat(2_000);
  let written = 0;
  let finished = false;
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const writeMore = () => {
      while (written < CHUNKS) {
        const ok = res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] })}\n\n`);
        written++;
        if (!ok) return void res.once('drain', writeMore);
      }
      res.end('data: [DONE]\n\n', () => (finished = true));
    };
    writeMore();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const pools = new Pools(silentLogger);
  let flow: AttemptControl | undefined;
  let received = 0;
  try {
    const running = pools.infer({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
      body: '{}',
      upstreamStreams: true,
      headersTimeoutMs: 10_000,
      idleTimeoutMs: 30_000,
      deadlineMs: 60_000,
      stream: { kind: 'chat', framing: { api: 'openai', kind: 'chat', wantsUsage: false } },
      signals: [new AbortController().signal],
      onControl: (control) => {
        flow = control;
        control.pause();
      },
      onMessage: (message: InferMessage) => {
        if (message.type === 'framed') received += message.text.split('data: {').length - 1;
      },
    });
    // 8 MB of answer; paused, only what the sockets' buffers hold gets written.
    await until('the upstream blocked on a full socket', () => (written > 0 ? true : undefined), 10_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(finished).toBe(false);
    expect(written).toBeLessThan(CHUNKS);
    expect(received).toBeLessThan(CHUNKS);
    flow!.resume();
    expect(await running).toEqual({ ok: true });
    expect(finished).toBe(true);
    expect(received).toBe(CHUNKS);
  } finally {
    await pools.close();
    server.close();
  }
});
