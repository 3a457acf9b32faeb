import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseRuns, type AnswerEvent } from '../../../src/answer/index.js';
import type { InferMessage, InferResult } from '../../../src/pool/messages.js';
import { Pools, type AttemptControl, type InferenceCall } from '../../../src/pool/pools.js';
import { deferred } from '../../support/deferred.js';
import { startLoopbackServer } from '../../support/loopback-server.js';
import { until } from '../../support/processes.js';

/** A streamed chat call to `url`, its messages going to `onMessage`. */
const streamedCall = (url: string, onMessage: (message: InferMessage) => void): InferenceCall => ({
  url,
  body: '{}',
  upstreamStreams: true,
  headersTimeoutMs: 5_000,
  idleTimeoutMs: 5_000,
  deadlineMs: 10_000,
  stream: { kind: 'chat', framing: { api: 'openai', kind: 'chat', wantsUsage: false } },
  signals: [new AbortController().signal],
  onMessage,
});

const chunk = (content: string, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, finish_reason: finish, delta: { role: 'assistant', content } }] })}\n\n`;

describe('worker pools', () => {
  it('a pool whose workers fail to start answers at once (never hangs) and is rebuilt after a pause', async () => {
    const events: string[] = [];
    const logger = pino({ level: 'error' }, new Writable({ write: (chunk: Buffer, _e, done) => (events.push(chunk.toString()), done()) }));
    const pools = new Pools(logger, { workerFile: new URL('../../fixtures/broken-worker.mjs', import.meta.url).href });
    try {
      const result = await pools.infer({
        url: 'http://127.0.0.1:9/none',
        body: '{}',
        upstreamStreams: true,
        headersTimeoutMs: 1_000,
        idleTimeoutMs: 1_000,
        deadlineMs: 3_000,
        signals: [new AbortController().signal],
        onMessage: () => undefined,
      });
      expect(result).toMatchObject({ ok: false, error: { countsAsFailure: true } });
      // One error for the first pool of each kind, then more as the rebuilt pools fail again.
      await until('a rebuilt pool to fail in turn', () => (events.filter((e) => e.includes('"pool":"inference"')).length >= 2 ? true : undefined), 5_000);
      expect(events.join('\n')).toContain('this worker is broken on purpose');
    } finally {
      await pools.close();
    }
  });

  it('a worker lost during a call fails that call at once, and the next call runs on the worker started in its place', async () => {
    const pools = new Pools(pino({ level: 'silent' }), { workerFile: new URL('../../fixtures/crashing-inference-worker.ts', import.meta.url).href });
    const call = (url: string): InferenceCall => ({ url, body: '{}', upstreamStreams: false, headersTimeoutMs: 5_000, idleTimeoutMs: 5_000, deadlineMs: 10_000, signals: [], onMessage: () => undefined });
    try {
      const before = await pools.infer(call('http://127.0.0.1:9/fine'));
      expect(before).toMatchObject({ ok: true });
      const started = performance.now();
      expect(await pools.infer(call('http://127.0.0.1:9/crash'))).toMatchObject({ ok: false, error: { code: 'ERR_WORKER', countsAsFailure: true } });
      expect(performance.now() - started).toBeLessThan(5_000); // at once, not at its 10 s deadline
      const after = await pools.infer(call('http://127.0.0.1:9/fine'));
      expect(after).toMatchObject({ ok: true });
      const threadOf = (result: InferResult) => (result.ok ? result.body?.threadId : undefined);
      expect(threadOf(after)).toBeDefined();
      expect(threadOf(after)).not.toBe(threadOf(before));
    } finally {
      await pools.close();
    }
  });

  it('a stream: events read together reach the caller as one message; a later token is not held back for the rest', async () => {
    const release = deferred();
    const server = await startLoopbackServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk('one') + chunk(' two') + chunk(' three'));
      void release.promise.then(() => res.end(chunk('', 'stop') + 'data: [DONE]\n\n'));
    });
    const pools = new Pools(pino({ level: 'silent' }));
    const messages: InferMessage[] = [];
    try {
      const running = pools.infer(streamedCall(`${server.url}/v1/chat/completions`, (message) => messages.push(message)));
      // The first three tokens arrive while the server still holds the end back.
      await until('the first tokens', () => (messages.length > 0 ? true : undefined), 5_000);
      expect(messages).toHaveLength(1);
      expect(messages[0]).toMatchObject({ type: 'framed', text: expect.stringMatching(/"one".*" two".*" three"/s) });
      release.resolve();
      expect(await running).toEqual({ ok: true });
      expect(messages.map((m) => m.type)).toEqual(['framed', 'framed', 'answer_end']);
      expect((messages[1] as { text: string }).text).toMatch(/"finish_reason":"stop".*data: \[DONE\]/s);
    } finally {
      await pools.close();
      await server.close();
    }
  });

  /** A server that holds the call named `first` until `release`, and every other one for good (it records the calls it saw, and those closed under it), and a pool busy with `first`. */
  async function holdingServer() {
    const release = deferred();
    const seen: string[] = [];
    const closed: string[] = [];
    const server = await startLoopbackServer((req, res) => {
      const call = new URL(req.url ?? '/', 'http://x').searchParams.get('call') ?? '';
      seen.push(call);
      req.on('close', () => void (res.writableFinished || closed.push(call)));
      if (call === 'first') void release.promise.then(() => res.end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] })));
    });
    const call = (name: string, signal: AbortSignal, deadlineMs = 10_000): InferenceCall => ({
      url: `${server.url}/v1/chat/completions?call=${name}`,
      body: '{}',
      upstreamStreams: false,
      headersTimeoutMs: 10_000,
      idleTimeoutMs: 10_000,
      deadlineMs,
      signals: [signal],
      onMessage: () => undefined,
    });
    // A worker that takes one call at a time, busy with the call `first` until `release`.
    const pools = new Pools(pino({ level: 'silent' }), { tasksPerWorker: 1 });
    const first = pools.infer(call('first', new AbortController().signal));
    await until('the first request', () => (seen.includes('first') ? true : undefined), 5_000);
    return { server, release, seen, closed, call, pools, first };
  }

  it('a call cancelled while it waits for room on a worker never starts: it ends at once, aborted', async () => {
    const { server, release, seen, closed, call, pools, first } = await holdingServer();
    try {
      const clientGone = new AbortController();
      const second = pools.infer(call('second', clientGone.signal));
      clientGone.abort();
      release.resolve();
      expect(await first).toMatchObject({ ok: true });
      expect(await second).toMatchObject({ ok: false, error: { code: 'ABORTED', aborted: true } });
      // Either it never reached the server, or it was closed there.
      if (seen.includes('second')) await until('the second request closed', () => (closed.includes('second') ? true : undefined), 5_000);
    } finally {
      await pools.close();
      await server.close();
    }
  });

  it('a call whose deadline passed while it waited for room on a worker never runs with nobody waiting', async () => {
    const { server, release, seen, closed, call, pools, first } = await holdingServer();
    try {
      expect(await pools.infer(call('second', new AbortController().signal, 200))).toMatchObject({ ok: false, error: { code: 'ERR_DEADLINE' } });
      release.resolve();
      expect(await first).toMatchObject({ ok: true });
      // The worker takes one call at a time: the third starts only once the second, held by the server for good, was stopped or never sent.
      const third = pools.infer(call('third', new AbortController().signal, 5_000));
      await until('the third request', () => (seen.includes('third') ? true : undefined), 5_000);
      if (seen.includes('second')) expect(closed).toContain('second');
      void third;
    } finally {
      await pools.close();
      await server.close();
    }
  });

  it('a call whose signal aborted before it reached the pool is stopped, not left to its deadline', async () => {
    const { server, release, seen, closed, call, pools, first } = await holdingServer();
    try {
      release.resolve();
      expect(await first).toMatchObject({ ok: true });
      // The server holds this call for good: only the abort can end it before its 10 s deadline.
      expect(await pools.infer(call('second', AbortSignal.abort()))).toMatchObject({ ok: false, error: { code: 'ABORTED', aborted: true } });
      if (seen.includes('second')) await until('the second request closed', () => (closed.includes('second') ? true : undefined), 5_000);
    } finally {
      await pools.close();
      await server.close();
    }
  });

  it('a stream ends only after its last message, however late they come', async () => {
    const pools = new Pools(pino({ level: 'silent' }), { workerFile: new URL('../../fixtures/late-messages-worker.ts', import.meta.url).href });
    const messages: InferMessage[] = [];
    try {
      const result = await pools.infer(streamedCall('http://127.0.0.1:9/unused', (message) => messages.push(message)));
      expect(result).toEqual({ ok: true });
      expect(messages.map((m) => m.type)).toEqual(['framed', 'framed', 'answer_end']);
    } finally {
      await pools.close();
    }
  });

  it('a parser fed by the inference worker: the text goes straight to the parse worker, held until its port comes (even past the answer\'s end), and each reply matches its run', async () => {
    const server = await startLoopbackServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk('Hi <tool_call>{"name": "f", '));
      setTimeout(() => res.end(chunk('"arguments": {"a": 1}}</tool_call>') + chunk('', 'stop') + 'data: [DONE]\n\n'), 50);
    });
    const pools = new Pools(pino({ level: 'silent' }));
    const batches: AnswerEvent[][] = [];
    let control: AttemptControl | undefined;
    try {
      const running = pools.infer({
        ...streamedCall(`${server.url}/v1/chat/completions`, (message) => void (message.type === 'events' && batches.push(message.events))),
        stream: { kind: 'chat', feedsParser: true },
        onControl: (given) => (control = given),
      });
      // The whole answer is read before the parser's port is handed over: the worker holds its text.
      await until('the end of the answer', () => (batches.flat().some((event) => event.type === 'chunk' && (event.chunk.choices as Array<{ finish_reason: unknown }>)[0]?.finish_reason) ? true : undefined), 5_000);
      const parser = pools.openParseStream({}, 10_000);
      control!.feedParser(parser.takeFeed());
      expect(parser.takeFeed()).toBeUndefined();
      expect(await running).toEqual({ ok: true });
      // The calling thread sends nothing: it only waits for the replies, run by run, as the pipeline does.
      const replies = [];
      for (const run of batches.flatMap((events) => parseRuns(events))) if (run.carrier >= 0) replies.push(await parser.request({ text: run.text, ...(run.end ? { end: true } : {}) }, 10_000));
      expect(replies.length).toBeGreaterThanOrEqual(2);
      expect(replies.map((reply) => reply.ok)).toEqual(replies.map(() => true));
      expect(replies.flatMap((reply) => (reply.ok ? reply.calls : []))).toMatchObject([{ name: 'f', arguments: { a: 1 } }]);
      expect(replies.map((reply) => (reply.ok ? reply.content : '')).join('')).toBe('Hi');
    } finally {
      await pools.close();
      await server.close();
    }
  });

  it('parsing in the pool gives the same result as in-process, chunk by chunk', async () => {
    const pools = new Pools(pino({ level: 'silent' }));
    try {
      const stream = pools.openParseStream({}, 10_000);
      expect(await stream.request({ text: 'Hi <tool_call>{"name": "f", ' }, 10_000)).toMatchObject({ ok: true, content: 'Hi', calls: [] });
      expect(await stream.request({ text: '"arguments": {"a": 1}}</tool_call>' }, 10_000)).toMatchObject({ ok: true, calls: [{ name: 'f', arguments: { a: 1 } }] });
      expect(await stream.request({ text: '', end: true }, 10_000)).toMatchObject({ ok: true, content: '', calls: [] });
    } finally {
      await pools.close();
    }
  });
});
