import { request } from 'undici';

export type CanaryResult = { ok: true; latencyMs: number } | { ok: false; reason: string };

const body = JSON.stringify({ messages: [{ role: 'user', content: 'ping' }], max_tokens: 1 });

/**
 * A one-token completion with a deadline: the only proof the model server can generate. `/health`
 * and an open port both answer while the model loads or after the generation thread died.
 */
export async function canary(baseUrl: string, timeoutMs: number, signal?: AbortSignal): Promise<CanaryResult> {
  const started = performance.now();
  const deadline = AbortSignal.timeout(Math.max(1, timeoutMs));
  try {
    const response = await request(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: signal ? AbortSignal.any([deadline, signal]) : deadline,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const text = await response.body.text();
    if (response.statusCode !== 200) return { ok: false, reason: `HTTP ${response.statusCode}: ${text.slice(0, 200)}` };
    const parsed = JSON.parse(text) as { choices?: unknown[] };
    if (!Array.isArray(parsed.choices) || parsed.choices.length === 0) return { ok: false, reason: 'a completion without choices' };
    return { ok: true, latencyMs: performance.now() - started };
  } catch (error) {
    if (deadline.aborted) return { ok: false, reason: `no answer within ${timeoutMs} ms` };
    const { code, message } = error as { code?: string; message?: string };
    return { ok: false, reason: code ? `${code}: ${message}` : String(message ?? error) };
  }
}
