import { request } from 'node:http';
import { within } from '../util/deadlines.js';

/** Where a model server answers, and the key it requires of every request (see `LaunchPlan.apiKeyEnv`). */
export interface Endpoint {
  baseUrl: string;
  apiKey?: string;
}

export type CheckResult = { ok: true; latencyMs: number } | { ok: false; reason: string };

const body = JSON.stringify({ messages: [{ role: 'user', content: 'ping' }], max_tokens: 1 });

/**
 * A one-token completion with a deadline: the only proof the model server can generate. `/health`
 * and an open port both answer while the model loads or after the generation thread died.
 */
export function canary(endpoint: Endpoint, timeoutMs: number, signal?: AbortSignal): Promise<CheckResult> {
  return withDeadline(timeoutMs, signal, async (abort) => {
    const { status, text } = await send(endpoint, '/v1/chat/completions', abort, body);
    if (status !== 200) return `HTTP ${status}: ${text.slice(0, 200)}`;
    const parsed = JSON.parse(text) as { choices?: unknown[] };
    return Array.isArray(parsed.choices) && parsed.choices.length > 0 ? undefined : 'a completion without choices';
  });
}

/**
 * `GET /health` with a deadline: proof only that the server's HTTP side runs (no generation), for
 * servers mlx-guard cannot see inside. A stopped or deadlocked process fails it.
 */
export function healthProbe(endpoint: Endpoint, timeoutMs: number, signal?: AbortSignal): Promise<CheckResult> {
  return withDeadline(timeoutMs, signal, async (abort) => {
    const { status } = await send(endpoint, '/health', abort);
    return status === 200 ? undefined : `HTTP ${status}`;
  });
}

/** Largest answer a probe reads; the rest is dropped (a canary's answer is one token). */
const PROBE_ANSWER_MAX_CHARS = 64 * 1024;

/**
 * One probe over node:http: the main thread runs the probes, and loading undici there would cost
 * it about 19 MB of resident memory for a request every few seconds (the inference worker has its own).
 */
function send({ baseUrl, apiKey }: Endpoint, path: string, abort: AbortSignal, json?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = json === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(json)) };
    if (apiKey !== undefined) headers.authorization = `Bearer ${apiKey}`;
    const req = request(`${baseUrl}${path}`, { method: json === undefined ? 'GET' : 'POST', headers, signal: abort }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (text.length < PROBE_ANSWER_MAX_CHARS) text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(json);
  });
}

/**
 * Runs `attempt` (which returns a failure reason, or undefined for success) within `timeoutMs`.
 * The deadline is kept here, not left to the HTTP client: a stopped server whose accept queue is
 * full leaves the connect pending. The deadline's abort then destroys the request, connecting or
 * connected, and the result is the deadline's.
 */
async function withDeadline(timeoutMs: number, signal: AbortSignal | undefined, attempt: (abort: AbortSignal) => Promise<string | undefined>): Promise<CheckResult> {
  const deadline = new AbortController();
  const abort = signal ? AbortSignal.any([deadline.signal, signal]) : deadline.signal;
  const started = performance.now();
  const run = attempt(abort).then(
    (reason): CheckResult => (reason === undefined ? { ok: true, latencyMs: performance.now() - started } : { ok: false, reason }),
    (error: unknown): CheckResult => {
      if (abort.aborted) return { ok: false, reason: 'cancelled' };
      const { code, message } = error as { code?: string; message?: string };
      return { ok: false, reason: code ? `${code}: ${message}` : String(message ?? error) };
    },
  );
  const result = await within(run, Math.max(1, timeoutMs), undefined);
  if (result) return result;
  deadline.abort();
  return { ok: false, reason: `no answer within ${timeoutMs} ms` };
}
