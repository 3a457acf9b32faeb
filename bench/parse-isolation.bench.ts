// How much a pathological tool-call parse delays other streams. Two healthy streams (one without
// tools, one with tools declared, so its content is parsed) run against a loopback server that
// sends a token every 20 ms, through the real inference and parse pools; first alone, then with a
// third answer whose every chunk takes seconds to parse (a test format, test/fixtures/
// slow-parse-worker.ts). Gaps between tokens as the client would get them, in one run.
//
//   npm run bench:parse-isolation
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { configSchema } from '../src/config.js';
import { CircuitBreaker } from '../src/breaker/index.js';
import { silentLogger } from '../src/observability/logger.js';
import { Metrics } from '../src/observability/metrics.js';
import { AnswerMerge, AnswerStream, OpenAiStreamFraming, type AnswerEvent, type PortableFraming } from '../src/answer/index.js';
import { Pools } from '../src/pool/pools.js';
import { ToolParsing } from '../src/server/tool-parsing.js';

const TOKENS = Number(process.env.TOKENS ?? 150);
const TOKEN_MS = 20;
const defaults = configSchema.parse({});
const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];

function upstream(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let sent = 0;
    const chunk = (delta: Record<string, unknown>, finish: string | null = null) => `data: ${JSON.stringify({ id: 'x', model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    const timer = setInterval(() => {
      if (sent++ < TOKENS) return void res.write(chunk({ content: ` word${sent}` }));
      clearInterval(timer);
      res.end(chunk({}, 'stop') + 'data: [DONE]\n\n');
    }, TOKEN_MS);
    req.on('close', () => clearInterval(timer));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })));
}

/** One streamed answer through the inference pool (and tool parsing when `withTools`): when each piece reached the client, in ms. */
async function stream(pools: Pools, parsing: ToolParsing, url: string, withTools: boolean): Promise<number[]> {
  const arrivals: number[] = [];
  const framing: PortableFraming = { api: 'openai', kind: 'chat', wantsUsage: false };
  const answer = new AnswerStream(new OpenAiStreamFraming(framing));
  const parser = withTools ? parsing.stream(tools) : undefined;
  let queue = Promise.resolve();
  const parseAndNote = async (events: AnswerEvent[]) => {
    for (const event of events) {
      if (event.type !== 'chunk' || !parser) continue;
      const content = AnswerMerge.content(event.chunk);
      const parsed = content === undefined ? undefined : await parser.push(content);
      if (answer.event(event, parsed)) arrivals.push(performance.now());
    }
  };
  await pools.infer({
    url,
    body: '{}',
    upstreamStreams: true,
    headersTimeoutMs: 60_000,
    idleTimeoutMs: 60_000,
    deadlineMs: 120_000,
    stream: { kind: 'chat', ...(withTools ? {} : { framing }) },
    signals: [new AbortController().signal],
    onMessage: (message) => {
      if (message.type === 'framed') arrivals.push(performance.now());
      else if (message.type === 'events') queue = queue.then(() => parseAndNote(message.events));
    },
  });
  await queue;
  parser?.release();
  return arrivals;
}

/** An answer whose every chunk takes `ms` to parse, for as long as the healthy ones run. */
async function pathological(parsing: ToolParsing, until: Promise<unknown>): Promise<string | undefined> {
  let done = false;
  void until.then(() => (done = true));
  const parser = parsing.stream(tools);
  while (!done) {
    await parser.push(' <slow>3000</slow>');
    if (parser.textMode) break;
  }
  parser.release();
  return parser.textMode;
}

function gaps(arrivals: number[]): { p50: number; p99: number; max: number } {
  const between = arrivals.slice(1).map((t, i) => t - arrivals[i]!).sort((a, b) => a - b);
  const at = (q: number) => between[Math.min(between.length - 1, Math.floor(q * between.length))]!;
  return { p50: at(0.5), p99: at(0.99), max: between.at(-1)! };
}

const { server, url } = await upstream();
const pools = new Pools(silentLogger, { workerFile: new URL('../test/fixtures/slow-parse-worker.ts', import.meta.url).href });
const parsing = new ToolParsing({ pools, parseBreaker: new CircuitBreaker({ name: 'parse', failureThreshold: 1_000 }), metrics: new Metrics(), logger: silentLogger, ...defaults.toolParsing });
try {
  await stream(pools, parsing, url, true); // warm both pools' workers
  const rows: Array<Record<string, string>> = [];
  const verdicts: boolean[] = [];
  const baseline = await Promise.all([stream(pools, parsing, url, false), stream(pools, parsing, url, true)]);
  const healthy = Promise.all([stream(pools, parsing, url, false), stream(pools, parsing, url, true)]);
  const stopped = await pathological(parsing, healthy);
  const loaded = await healthy;
  ['no tools (not parsed)', 'tools declared (parsed)'].forEach((name, i) => {
    const alone = gaps(baseline[i]!);
    const beside = gaps(loaded[i]!);
    const added = beside.max - alone.max;
    // Noise here: a token every 20 ms on a shared 2-core VM; a parse that blocked this stream would add seconds.
    const ok = i === 0 ? added < 50 : added < defaults.toolParsing.replyDeadlineMs + 100;
    verdicts.push(ok);
    rows.push({ stream: name, 'alone p50 / p99 / max gap': `${alone.p50.toFixed(1)} / ${alone.p99.toFixed(1)} / ${alone.max.toFixed(1)} ms`, 'beside a pathological parse': `${beside.p50.toFixed(1)} / ${beside.p99.toFixed(1)} / ${beside.max.toFixed(1)} ms`, 'max gap added': `${added.toFixed(1)} ms`, tokens: String(loaded[i]!.length) });
  });
  console.log(`node ${process.version}; ${TOKENS} tokens every ${TOKEN_MS} ms; parse budget ${defaults.toolParsing.budgetMs} ms, reply deadline ${defaults.toolParsing.replyDeadlineMs} ms; the pathological answer stopped being parsed: ${stopped ?? 'never'}`);
  console.table(rows);
  console.log(
    verdicts.every(Boolean)
      ? `verdict: a pathological parse adds nothing beyond noise to a stream without tools, and at most one reply deadline (${defaults.toolParsing.replyDeadlineMs} ms) to a parsed stream that shares its parse worker`
      : 'verdict: a pathological parse delayed another stream more than it may',
  );
  process.exitCode = verdicts.every(Boolean) ? 0 : 1;
} finally {
  await pools.close();
  server.close();
}
