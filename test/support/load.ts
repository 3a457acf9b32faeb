/** What one request of a load run came to. */
export interface Outcome {
  /** HTTP status, or 'hung' when the client's own deadline ran out, or 'network' for a transport error. */
  result: number | 'hung' | 'network';
  ms: number;
  /** For errors: the error code mlx-guard gave (or the stream's error event). */
  code?: string;
  /** The Retry-After header, for refusals. */
  retryAfter?: string;
  /** The x-mlx-guard-replayed header: the request was sent again after a model server restart. */
  replayed?: string;
  /** A stream that failed after content had reached the client (such a stream cannot be replayed). */
  contentBeforeError?: boolean;
  startedAt: number;
}

/**
 * `clients` loops, each sending requests back to back for `durationMs` (bounded in count and time,
 * to loopback only), half of them streamed. A request still unanswered at `clientDeadlineMs`
 * counts as hung: the number mlx-guard exists to keep at zero.
 */
export async function runLoad(
  url: string,
  options: { clients: number; durationMs: number; clientDeadlineMs: number; maxRequests?: number; streaming?: boolean; model?: (client: number, request: number) => string },
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const stopAt = Date.now() + options.durationMs;
  const maxRequests = options.maxRequests ?? 10_000;
  const client = async (id: number) => {
    for (let i = 0; Date.now() < stopAt && outcomes.length < maxRequests; i++) {
      const stream = options.streaming ?? (id + i) % 2 === 0;
      const startedAt = Date.now();
      const body = JSON.stringify({ model: options.model?.(id, i) ?? 'load', messages: [{ role: 'user', content: `request ${id}-${i}` }], max_tokens: 8, stream });
      try {
        const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body, signal: AbortSignal.timeout(options.clientDeadlineMs) });
        const text = await response.text();
        let code: string | undefined;
        if (response.status !== 200) code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        else if (stream && !text.includes('data: [DONE]')) code = /"code":"([^"]+)"/.exec(text)?.[1] ?? 'stream_cut';
        const retryAfter = response.headers.get('retry-after') ?? undefined;
        const replayed = response.headers.get('x-mlx-guard-replayed') ?? undefined;
        const contentBeforeError = stream && code !== undefined && /"content":"[^"]/.test(text.slice(0, text.indexOf('"error"')));
        outcomes.push({ result: response.status, ms: Date.now() - startedAt, code, startedAt, ...(retryAfter ? { retryAfter } : {}), ...(replayed ? { replayed } : {}), ...(contentBeforeError ? { contentBeforeError } : {}) });
        if (response.status === 503) await new Promise((resolve) => setTimeout(resolve, 20));
      } catch (error) {
        const hung = (error as Error).name === 'TimeoutError';
        outcomes.push({ result: hung ? 'hung' : 'network', ms: Date.now() - startedAt, code: (error as Error).name, startedAt });
      }
    }
  };
  await Promise.all(Array.from({ length: options.clients }, (_, id) => client(id)));
  return outcomes;
}

export function summarise(outcomes: Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) {
    const key = o.result === 200 && !o.code ? 'ok' : `${o.result}${o.code ? `:${o.code}` : ''}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
