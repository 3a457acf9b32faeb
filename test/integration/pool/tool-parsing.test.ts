// Tool parsing in the parse pool with a per-answer budget, against real worker threads. A format
// that takes as long as its block says stands in for a pathological answer.
import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../../src/breaker/index.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { Pools } from '../../../src/pool/pools.js';
import { ToolParsing, type StreamParsing } from '../../../src/server/tool-parsing.js';
import { parseRuns } from '../../../src/answer/index.js';
import { startLoopbackServer } from '../../support/loopback-server.js';

const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
const call = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>';

async function withParsing(budgetMs: number, run: (parsing: ToolParsing, context: { breaker: CircuitBreaker; metrics: Metrics; pools: Pools }) => Promise<void>): Promise<void> {
  const pools = new Pools(silentLogger, { parseThreads: 1, workerFile: new URL('../../fixtures/slow-parse-worker.ts', import.meta.url).href });
  const breaker = new CircuitBreaker({ name: 'parse', failureThreshold: 5, recoveryTimeout: 30_000 });
  const metrics = new Metrics();
  try {
    await run(new ToolParsing({ pools, parseBreaker: breaker, metrics, logger: silentLogger, budgetMs, replyDeadlineMs: budgetMs }), { breaker, metrics, pools });
  } finally {
    await pools.close();
  }
}

/** Feeds the chunks one after the other, as the responder does; what the client would get. */
async function feed(stream: StreamParsing, chunks: string[]): Promise<{ content: string; calls: string[] }> {
  let content = '';
  const calls: string[] = [];
  for (const chunk of chunks) {
    const out = await stream.push(chunk);
    content += out.content;
    calls.push(...out.calls.map((c) => c.name));
  }
  const last = await stream.push('', true);
  stream.release();
  return { content: content + last.content, calls: [...calls, ...last.calls.map((c) => c.name)] };
}

const offReasons = async (metrics: Metrics) => (await metrics.toolParsingOff.get()).values.map((v) => [v.labels.reason, v.value]);

describe('tool parsing in the parse pool, within a budget', () => {
  it('a healthy streamed answer is parsed: the call goes out, the markup does not, the breaker hears success', async () => {
    await withParsing(2_000, async (parsing, { breaker }) => {
      const stream = parsing.stream(tools);
      const result = await feed(stream, ['Sure. <tool_', call.slice('<tool_'.length), ' Done.']);
      expect(stream.textMode).toBeUndefined();
      expect(result).toEqual({ content: 'Sure.  Done.', calls: ['get_weather'] });
      expect(breaker.getMetrics().successes).toBe(1);
    });
  });

  it('one chunk whose parse runs past the budget: its worker is terminated and the answer goes on as text from where parsing stopped', async () => {
    await withParsing(300, async (parsing, { breaker, metrics }) => {
      const stream = parsing.stream(tools);
      const chunks = [`Sure. ${call} Next: `, '<slow>5000</slow>', ' and the rest.'];
      const started = performance.now();
      const result = await feed(stream, chunks);
      expect(performance.now() - started).toBeLessThan(4_000); // the 5 s parse was cut off, not waited for
      expect(stream.textMode).toBe('deadline');
      // The call before the stop went out as a call; everything after it reaches the client as text.
      expect(result.calls).toEqual(['get_weather']);
      expect(result.content).toBe('Sure.  Next: <slow>5000</slow> and the rest.');
      expect(breaker.getMetrics().failures).toBe(1);
      expect(await offReasons(metrics)).toEqual([['deadline', 1]]);
    });
  });

  it('many slow chunks: once their sum passes the budget the rest passes through as text', async () => {
    await withParsing(250, async (parsing, { metrics }) => {
      const stream = parsing.stream(tools);
      const chunks = Array.from({ length: 12 }, (_, i) => `part ${i} <slow>60</slow> `);
      const result = await feed(stream, chunks);
      expect(stream.textMode).toBe('budget');
      expect(result.calls).toEqual([]);
      // Nothing lost: every part is there, and the slow blocks parsed before the stop are gone.
      for (let i = 0; i < 12; i++) expect(result.content).toContain(`part ${i}`);
      expect(result.content).toMatch(/^part 0 +part 1/);
      expect(result.content).toContain('part 11 <slow>60</slow>');
      expect(await offReasons(metrics)).toEqual([['budget', 1]]);
    });
  });

  it('fed by the inference worker, a runaway parse is cut off all the same, and the answer goes on as text from where parsing stopped', async () => {
    const sse = (content: string, finish: string | null = null) => `data: ${JSON.stringify({ choices: [{ index: 0, finish_reason: finish, delta: { content } }] })}\n\n`;
    const server = await startLoopbackServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sse(`Sure. ${call} Next: `));
      setTimeout(() => res.write(sse('<slow>5000</slow>')), 50);
      setTimeout(() => res.end(sse(' and the rest.') + sse('', 'stop') + 'data: [DONE]\n\n'), 100);
    });
    try {
      await withParsing(300, async (parsing, { pools, metrics }) => {
        const stream = parsing.stream(tools);
        let content = '';
        const calls: string[] = [];
        // As the stream pipeline does: the feed is handed over once the call is dispatched, and each run's reply is awaited in order.
        let queue = Promise.resolve();
        const started = performance.now();
        const result = await pools.infer({
          url: `${server.url}/v1/chat/completions`,
          body: '{}',
          upstreamStreams: true,
          headersTimeoutMs: 5_000,
          idleTimeoutMs: 5_000,
          deadlineMs: 10_000,
          stream: { kind: 'chat', feedsParser: true },
          signals: [new AbortController().signal],
          onControl: (control) => queueMicrotask(() => control.feedParser(stream.takeFeed())),
          onMessage: (message) => {
            if (message.type !== 'events') return;
            for (const run of parseRuns(message.events)) {
              if (run.carrier < 0) continue;
              queue = queue.then(async () => {
                const out = await stream.push(run.text, run.end);
                content += out.content;
                calls.push(...out.calls.map((c) => c.name));
              });
            }
          },
        });
        await queue;
        stream.release();
        expect(result).toEqual({ ok: true });
        expect(performance.now() - started).toBeLessThan(4_000); // the 5 s parse was cut off, not waited for
        expect(stream.textMode).toBe('deadline');
        expect(calls).toEqual(['get_weather']);
        expect(content).toBe('Sure.  Next: <slow>5000</slow> and the rest.');
        expect(await offReasons(metrics)).toEqual([['deadline', 1]]);
      });
    } finally {
      await server.close();
    }
  });

  it('another answer parsed on the worker that was terminated goes on as text too, without losing anything', async () => {
    await withParsing(300, async (parsing) => {
      const healthy = parsing.stream(tools);
      expect(await healthy.push('Let me check <tool_call>{"name": "get_')).toEqual({ content: 'Let me check', calls: [] });
      const pathological = parsing.stream(tools);
      await feed(pathological, ['<slow>5000</slow>']);
      expect(pathological.textMode).toBe('deadline');
      const rest = await feed(healthy, ['weather", "arguments": {}}</tool_call> ok']);
      expect(healthy.textMode).toBe('worker_lost');
      expect(rest.content).toBe(' <tool_call>{"name": "get_weather", "arguments": {}}</tool_call> ok');
    });
  });

  it('an answer released while its reply is awaited (client gone, replay) ends its wait at once with its text, and terminates no worker', async () => {
    await withParsing(300, async (parsing, { metrics }) => {
      const healthy = parsing.stream(tools);
      expect(await healthy.push('Let me check <tool_call>{"name": "get_')).toEqual({ content: 'Let me check', calls: [] });
      const released = parsing.stream(tools);
      const waiting = released.push('slow: <slow>800</slow>');
      await new Promise((resolve) => setTimeout(resolve, 20));
      released.release();
      expect(await waiting).toEqual({ content: 'slow: <slow>800</slow>', calls: [] });
      expect(released.textMode).toBeUndefined();
      // Past the released reply's deadline and the slow parse: the worker both answers share is still there.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const rest = await feed(healthy, ['weather", "arguments": {}}</tool_call> ok']);
      expect(healthy.textMode).toBeUndefined();
      expect(rest).toEqual({ content: '  ok', calls: ['get_weather'] });
      expect(await offReasons(metrics)).toEqual([]);
    });
  });

  it('a whole answer whose parse runs past the budget comes back as text, and the next one is parsed again', async () => {
    await withParsing(300, async (parsing, { metrics }) => {
      expect(await parsing.whole(`x <slow>5000</slow>`, tools)).toEqual({ textMode: 'deadline' });
      expect(await parsing.whole(`Sure. ${call}`, tools)).toMatchObject({ parsed: { content: 'Sure.', calls: [{ name: 'get_weather' }] } });
      expect(await offReasons(metrics)).toEqual([['deadline', 1]]);
    });
  });

  it('with the parse breaker open, answers pass through as text at once', async () => {
    await withParsing(300, async (parsing, { breaker }) => {
      breaker.isolate();
      const stream = parsing.stream(tools);
      expect(stream.textMode).toBe('breaker_open');
      expect(await feed(stream, [call])).toEqual({ content: call, calls: [] });
      expect(await parsing.whole(call, tools)).toEqual({ textMode: 'breaker_open' });
    });
  });
});
