/** How an upstream call failed; `code` is stable for callers and tests to match on. */
export type UpstreamErrorCode =
  | 'ERR_UPSTREAM_STATUS'
  | 'ERR_UPSTREAM_CONNECTION'
  | 'ERR_UPSTREAM_HEADERS_TIMEOUT'
  | 'ERR_UPSTREAM_STALL'
  | 'ERR_UPSTREAM_INCOMPLETE'
  | 'ERR_UPSTREAM_PROTOCOL';

/**
 * The model server failed a request. `countsAsFailure` is the failure classification (ARCHITECTURE.md, "Failures, classified"):
 * 5xx, timeouts, stalls, resets and streams cut before `[DONE]` are the server's fault; a 4xx is
 * the request's.
 */
export class UpstreamError extends Error {
  readonly countsAsFailure: boolean;

  constructor(
    readonly code: UpstreamErrorCode,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UpstreamError';
    this.countsAsFailure = code !== 'ERR_UPSTREAM_STATUS' || status === undefined || status >= 500;
  }
}

/** For the inference breaker's `isFailure`: only the model server's own failures count. */
export function isUpstreamFailure(error: unknown): boolean {
  return error instanceof UpstreamError ? error.countsAsFailure : !(error instanceof Error && error.name === 'AbortError');
}
