// The pool's worker entry: named tasks `infer` (one upstream call, streamed back over a port) and
// `parseTools` (one response's tool calls). Neither imports server code.
import type { MessagePort } from 'node:worker_threads';
import { parserRegistry, type ParseOptions, type ParseResult } from '../tools/index.js';
import { CompletionAggregator, completeOnce, streamCompletion, UpstreamError, wholeAsEvents } from '../upstream/index.js';
import type { InferMessage, InferTask, TaskError } from './messages.js';
import { StreamRewriter } from './stream-rewriter.js';

/**
 * Calls the model server and posts what arrives on `task.port`. A `{ type: 'abort' }` message on
 * the same port cancels the upstream request: aborting through Piscina would terminate the worker
 * and every other stream on it.
 */
export async function infer(task: InferTask): Promise<{ ok: true } | { ok: false; error: TaskError }> {
  const port: MessagePort = task.port;
  const controller = new AbortController();
  port.on('message', (message: { type?: string }) => {
    if (message?.type === 'abort') controller.abort(new DOMException('the client went away', 'AbortError'));
  });
  const post = (message: InferMessage) => port.postMessage(message);
  const options = { signal: controller.signal, headersTimeoutMs: task.headersTimeoutMs, idleTimeoutMs: task.idleTimeoutMs };
  try {
    if (task.rewrite) {
      const rewriter = new StreamRewriter(task.rewrite);
      const events = task.upstreamStreams ? streamCompletion(task.url, task.body, options) : wholeAsEvents(await completeOnce(task.url, task.body, options), task.rewrite.kind);
      for await (const event of events) {
        const text = rewriter.rewrite(event);
        if (text) post({ type: 'sse', text });
      }
      post({ type: 'stream_end', sawFinish: rewriter.sawFinish, lostCall: rewriter.lostCall, ...(rewriter.parseError ? { parseError: rewriter.parseError } : {}) });
    } else if (task.upstreamStreams && task.aggregate) {
      const aggregator = new CompletionAggregator(task.aggregate.kind, task.aggregate.model);
      for await (const event of streamCompletion(task.url, task.body, options)) {
        if (event.type === 'data') aggregator.add(JSON.parse(event.data) as Record<string, unknown>);
      }
      post({ type: 'json', body: aggregator.result() });
    } else {
      post({ type: 'json', body: await completeOnce(task.url, task.body, options) });
    }
    return { ok: true };
  } catch (error) {
    return { ok: false, error: toTaskError(error, controller.signal.aborted) };
  } finally {
    port.close();
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
