import type { IncomingMessage } from 'node:http';
import { MAX_TOKENS_HEADER, REPLAYED_HEADER, TEXT_MODE_HEADER } from './pipeline.js';

/**
 * What a browser may do with mlx-guard. Scripts and SDKs send no `Origin` and are not concerned;
 * a web page always sends one on a cross-site request, so:
 * - a page from an origin that is not allowed is refused (any site the user opens could otherwise
 *   POST to the loopback admin routes or use the model);
 * - bound to loopback, a `Host` that is not a loopback name is refused: a DNS-rebinding page
 *   reaches 127.0.0.1 under its own name and would otherwise read the answers;
 * - allowed origins get CORS headers, and their preflights an answer, so browser chat UIs that
 *   work against mlx_lm.server work through mlx-guard.
 */
export interface RequestGuardOptions {
  /** Whether mlx-guard is bound to a loopback address. */
  loopback: boolean;
  /** Origins allowed besides loopback pages and the page's own host; `*` allows every origin. */
  allowedOrigins: readonly string[];
  /** Host names accepted besides the loopback ones when bound to loopback. */
  allowedHosts: readonly string[];
}

export type Refusal = { refused: string };

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** The name part of a `Host` header or an origin's host (`[::1]:8080` → `[::1]`, `a.b:80` → `a.b`). */
function hostName(host: string): string {
  const lower = host.toLowerCase();
  if (lower.startsWith('[')) return lower.slice(0, lower.indexOf(']') + 1);
  const colon = lower.lastIndexOf(':');
  return colon === -1 ? lower : lower.slice(0, colon);
}

function originHost(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.host : undefined;
  } catch {
    return undefined;
  }
}

export class RequestGuard {
  readonly #hosts: Set<string>;
  readonly #anyOrigin: boolean;
  readonly #origins: Set<string>;

  constructor(readonly options: RequestGuardOptions) {
    this.#hosts = new Set([...LOOPBACK_NAMES, ...options.allowedHosts.map((host) => hostName(host))]);
    this.#anyOrigin = options.allowedOrigins.includes('*');
    this.#origins = new Set(options.allowedOrigins.map((origin) => origin.toLowerCase().replace(/\/$/, '')));
  }

  /** Why this request is refused before routing, or undefined. */
  check(req: IncomingMessage): Refusal | undefined {
    const host = req.headers.host ?? '';
    if (this.options.loopback && !this.#hosts.has(hostName(host))) {
      return { refused: `Host "${host}" is not a name of this loopback server (a DNS-rebinding page would look like this); add the name to allowedHosts if it is yours` };
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !this.originAllowed(origin, host)) {
      return { refused: `web pages from ${origin} may not call mlx-guard; add the origin to allowedOrigins (--allowed-origins) to allow them` };
    }
    return undefined;
  }

  /** Loopback pages, the server's own pages (same host), and the configured origins. */
  originAllowed(origin: string, host: string): boolean {
    if (this.#anyOrigin) return true;
    const of = originHost(origin);
    if (of === undefined) return false; // "null" (sandboxed frames, file:) and other schemes
    return LOOPBACK_NAMES.has(hostName(of)) || of === host.toLowerCase() || this.#origins.has(origin.toLowerCase());
  }

  /** The CORS headers for an allowed cross-origin request (none without an `Origin`). */
  corsHeaders(req: IncomingMessage): Record<string, string> {
    const origin = req.headers.origin;
    if (origin === undefined) return {};
    return { 'access-control-allow-origin': origin, vary: 'Origin', 'access-control-expose-headers': EXPOSED_HEADERS };
  }

  /** The answer to a preflight of an allowed origin, for a route that takes `methods`. */
  preflightHeaders(req: IncomingMessage, methods: readonly string[]): Record<string, string> {
    const requested = req.headers['access-control-request-headers'];
    return {
      ...this.corsHeaders(req),
      'access-control-allow-methods': [...methods, 'OPTIONS'].join(', '),
      // Echoed, within what a header may hold: SDKs add their own (x-stainless-*, anthropic-*).
      ...(typeof requested === 'string' && requested.length <= 2_048 ? { 'access-control-allow-headers': requested } : {}),
      'access-control-max-age': '600',
    };
  }
}

/** Response headers a page may read: why to wait, and what mlx-guard did. */
const EXPOSED_HEADERS = ['retry-after', 'request-id', REPLAYED_HEADER, TEXT_MODE_HEADER, MAX_TOKENS_HEADER].join(', ');
