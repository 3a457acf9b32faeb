// The pool's worker entry: named tasks `infer` (one upstream call, streamed back over a port) and
// `parseTools` (one response's tool calls). Neither imports server code.
import type { MessagePort } from 'node:worker_threads';
import { parserRegistry, type ParseOptions, type ParseResult } from '../tools/index.js';
import { CompletionAggregator, completeOnce, streamCompletion, UpstreamError, wholeAsEvents } from '../upstream/index.js';
import type { InferMessage, InferResult, InferTask, TaskError } from './messages.js';
import { StreamRewriter } from './stream-rewriter.js';

/**
 * Calls the model server: a streaming client's text is posted on `task.port` as it comes, a whole
 * answer is the task's result. A `{ type: 'abort' }` message on the port cancels the upstream
 * request: aborting through Piscina would terminate the worker and every other stream on it.
 */
export async function infer(task: InferTask): Promise<InferResult> {
  const port: MessagePort = task.port;
  const controller = new AbortController();
  port.on('message', (message: { type?: string }) => {
    if (message?.type === 'abort') controller.abort(new DOMException('the client went away', 'AbortError'));
  });
  try {
    return await runInference(task, (message) => port.postMessage(message), controller.signal);
  } finally {
    port.close();
  }
}

/** The calling thread hears of progress at least this often while a call makes any. */
const PROGRESS_EVERY_MS = 1_000;

async function runInference(task: Omit<InferTask, 'port'>, postMessage: (message: InferMessage) => void, signal: AbortSignal): Promise<InferResult> {
  // Every message counts as progress there, so a progress message goes only when nothing else
  // did for a while (a long prefill's keepalives for a whole answer, tool-call markup held back):
  // a fast answer costs no message more than it did before.
  let lastPostAt = performance.now();
  const post = (message: InferMessage) => {
    lastPostAt = performance.now();
    postMessage(message);
  };
  const onProgress = () => {
    if (performance.now() - lastPostAt >= PROGRESS_EVERY_MS) post({ type: 'progress' });
  };
  const options = { signal, headersTimeoutMs: task.headersTimeoutMs, idleTimeoutMs: task.idleTimeoutMs, onProgress };
  try {
    if (task.rewrite) {
      const rewriter = new StreamRewriter(task.rewrite);
      const events = task.upstreamStreams ? streamCompletion(task.url, task.body, options) : wholeAsEvents(await completeOnce(task.url, task.body, options), task.rewrite.kind);
      const batch = new SseBatch(post);
      try {
        for await (const event of events) batch.add(rewriter.rewrite(event));
      } finally {
        batch.flush();
      }
      post({ type: 'stream_end', sawFinish: rewriter.sawFinish, lostCall: rewriter.lostCall, ...(rewriter.parseError ? { parseError: rewriter.parseError } : {}) });
      return { ok: true };
    }
    if (task.upstreamStreams && task.aggregate) {
      const aggregator = new CompletionAggregator(task.aggregate.kind, task.aggregate.model);
      for await (const event of streamCompletion(task.url, task.body, options)) {
        if (event.type === 'data') aggregator.add(JSON.parse(event.data) as Record<string, unknown>);
      }
      return { ok: true, body: aggregator.result() };
    }
    return { ok: true, body: await completeOnce(task.url, task.body, options) };
  } catch (error) {
    return { ok: false, error: toTaskError(error, signal.aborted) };
  }
}

/**
 * Events that arrive together (one network read holds several when the server is fast) go to the
 * calling thread as one message, and so to the client as one write: each message wakes that
 * thread and each write is a syscall. A lone token goes out as soon as the reads in hand are done.
 */
class SseBatch {
  #text = '';
  #scheduled = false;

  constructor(readonly post: (message: InferMessage) => void) {}

  add(text: string): void {
    if (!text) return;
    this.#text += text;
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.#scheduled = false;
    if (!this.#text) return;
    this.post({ type: 'sse', text: this.#text });
    this.#text = '';
  }
}

export function parseTools(task: { text: string; options: ParseOptions }): ParseResult {
  return parserRegistry.parseWithFallback(task.text, task.options);
}

function toTaskError(error: unknown, aborted: boolean): TaskError {
  if (error instanceof UpstreamError) return { code: error.code, message: error.message, status: error.status, countsAsFailure: error.countsAsFailure, aborted: false };
  return { code: aborted ? 'ABORTED' : 'ERR_INTERNAL', message: String((error as Error)?.message ?? error), countsAsFailure: !aborted, aborted };
}

// Piscina falls back to require() (which cannot load TypeScript) when a module has no default export.
export default parseTools;
