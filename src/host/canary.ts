import { request } from 'undici';

export type CanaryResult = { ok: true; latencyMs: number } | { ok: false; reason: string };

const body = JSON.stringify({ messages: [{ role: 'user', content: 'ping' }], max_tokens: 1 });

/**
 * A one-token completion with a deadline: the only proof the model server can generate. `/health`
 * and an open port both answer while the model loads or after the generation thread died.
 *
 * The deadline is kept here, not left to undici: a stopped server whose accept queue is full
 * leaves the connect pending, and undici notices neither an abort signal nor a header timeout
 * until its own 10 s connect timeout. The abandoned attempt ends there, on its own; once
 * connected, the deadline's abort ends it at once.
 */
export async function canary(baseUrl: string, timeoutMs: number, signal?: AbortSignal): Promise<CanaryResult> {
  const deadline = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<CanaryResult>((resolve) => {
    timer = setTimeout(() => {
      deadline.abort();
      resolve({ ok: false, reason: `no answer within ${timeoutMs} ms` });
    }, Math.max(1, timeoutMs));
  });
  try {
    return await Promise.race([attempt(baseUrl, signal ? AbortSignal.any([deadline.signal, signal]) : deadline.signal), late]);
  } finally {
    clearTimeout(timer);
  }
}

async function attempt(baseUrl: string, signal: AbortSignal): Promise<CanaryResult> {
  const started = performance.now();
  try {
    const response = await request(`${baseUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal });
    const text = await response.body.text();
    if (response.statusCode !== 200) return { ok: false, reason: `HTTP ${response.statusCode}: ${text.slice(0, 200)}` };
    const parsed = JSON.parse(text) as { choices?: unknown[] };
    if (!Array.isArray(parsed.choices) || parsed.choices.length === 0) return { ok: false, reason: 'a completion without choices' };
    return { ok: true, latencyMs: performance.now() - started };
  } catch (error) {
    if (signal.aborted) return { ok: false, reason: 'cancelled' };
    const { code, message } = error as { code?: string; message?: string };
    return { ok: false, reason: code ? `${code}: ${message}` : String(message ?? error) };
  }
}
