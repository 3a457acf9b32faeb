import type { PublicErrorCode } from '../answer/index.js';
import type { TaskErrorCode } from '../pool/messages.js';

/**
 * What a client is told of an upstream failure: a public code, a status and a plain message; never
 * the internal detail. A 4xx is about the request itself (a prompt over the context, a model name
 * not found), so the reason the model server gave is quoted; a 5xx's detail stays in the log.
 */
export function publicUpstreamError(error: { code: TaskErrorCode; status?: number; message?: string }): { code: PublicErrorCode; status: number; message: string } {
  if (error.code === 'ERR_UPSTREAM_STATUS' && error.status !== undefined && error.status < 500) {
    const reason = rejectionReason(error.message ?? '');
    return { code: 'upstream_rejected', status: error.status, message: `the model server refused the request (HTTP ${error.status})${reason ? `: ${reason}` : '; its answer is in mlx-guard\'s log'}` };
  }
  if (error.code === 'ERR_DEADLINE' || error.code === 'ERR_UPSTREAM_HEADERS_TIMEOUT' || error.code === 'ERR_UPSTREAM_STALL') {
    return { code: 'upstream_timeout', status: 504, message: 'the model server did not complete the answer in time' };
  }
  return { code: 'upstream_error', status: 502, message: 'the model server failed this request; mlx-guard logged what happened' };
}

const MAX_REASON_CHARS = 500;

/** The model server's own words from an upstream error's text (`… answered 400: {"error": …}`). */
function rejectionReason(text: string): string | undefined {
  const body = text.slice(text.indexOf('{'));
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    const error = parsed.error;
    const reason = typeof error === 'string' ? error : typeof error === 'object' && error !== null ? (error as { message?: unknown }).message : undefined;
    return typeof reason === 'string' && reason.length > 0 ? reason.slice(0, MAX_REASON_CHARS) : undefined;
  } catch {
    return undefined;
  }
}
