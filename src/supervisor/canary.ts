import { within } from '../util/deadlines.js';
import { request } from 'undici';

export type CheckResult = { ok: true; latencyMs: number } | { ok: false; reason: string };

const body = JSON.stringify({ messages: [{ role: 'user', content: 'ping' }], max_tokens: 1 });

/**
 * A one-token completion with a deadline: the only proof the model server can generate. `/health`
 * and an open port both answer while the model loads or after the generation thread died.
 */
export function canary(baseUrl: string, timeoutMs: number, signal?: AbortSignal): Promise<CheckResult> {
  return withDeadline(timeoutMs, signal, async (abort) => {
    const response = await request(`${baseUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: abort });
    const text = await response.body.text();
    if (response.statusCode !== 200) return `HTTP ${response.statusCode}: ${text.slice(0, 200)}`;
    const parsed = JSON.parse(text) as { choices?: unknown[] };
    return Array.isArray(parsed.choices) && parsed.choices.length > 0 ? undefined : 'a completion without choices';
  });
}

/**
 * `GET /health` with a deadline: proof only that the server's HTTP side runs (no generation), for
 * servers mlx-guard cannot see inside. A stopped or deadlocked process fails it.
 */
export function healthProbe(baseUrl: string, timeoutMs: number, signal?: AbortSignal): Promise<CheckResult> {
  return withDeadline(timeoutMs, signal, async (abort) => {
    const response = await request(`${baseUrl}/health`, { signal: abort });
    await response.body.dump();
    return response.statusCode === 200 ? undefined : `HTTP ${response.statusCode}`;
  });
}

/**
 * Runs `attempt` (which returns a failure reason, or undefined for success) within `timeoutMs`.
 * The deadline is kept here, not left to undici: a stopped server whose accept queue is full
 * leaves the connect pending, and undici notices neither an abort signal nor a header timeout
 * until its own 10 s connect timeout. The abandoned attempt ends there, on its own; once
 * connected, the deadline's abort ends it at once.
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
