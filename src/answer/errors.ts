/**
 * Every error code mlx-guard answers with, on every route: its HTTP status, OpenAI error type,
 * whether retrying the same request can succeed, and when it is sent. The README's error table
 * is this table (a test compares them). Internal codes (an upstream error's `ERR_UPSTREAM_*`, a
 * worker's) never reach a client: `publicUpstreamError` (server/errors.ts) maps them here, and their detail goes to the log.
 */
export const PUBLIC_ERRORS = {
  invalid_request: { status: 400, type: 'invalid_request_error', retryable: false, when: 'a field fails its check (type, range, too long or too deep); the message and `param` name it' },
  invalid_json: { status: 400, type: 'invalid_request_error', retryable: false, when: 'the body is not JSON' },
  body_unreadable: { status: 400, type: 'invalid_request_error', retryable: true, when: 'the body could not be read (the connection broke)' },
  unauthorized: { status: 401, type: 'authentication_error', retryable: false, when: 'a token is required (admin actions; every route when bound beyond loopback) and was missing or wrong' },
  forbidden: { status: 403, type: 'permission_error', retryable: false, when: 'a web page from an origin that is not in `allowedOrigins`, or (bound to loopback) a `Host` that is not a loopback name or in `allowedHosts`' },
  not_found: { status: 404, type: 'not_found_error', retryable: false, when: 'no such route, or no such model (`/v1/models/{id}`, `/api/show`)' },
  model_not_found: { status: 404, type: 'invalid_request_error', retryable: false, when: 'with `models.served`: the request names a model that is not one of them (nor an alias); `/v1/models` lists them' },
  method_not_allowed: { status: 405, type: 'invalid_request_error', retryable: false, when: 'the route does not take this method (`Allow` lists those it takes)' },
  body_timeout: { status: 408, type: 'invalid_request_error', retryable: true, when: 'the body did not arrive within `bodyTimeoutMs`, or came slower than `bodyMinBytesPerSecond`' },
  body_too_large: { status: 413, type: 'invalid_request_error', retryable: false, when: 'the body is larger than `bodyLimitBytes`' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error', retryable: false, when: 'an admin action with a body that is not `application/json` (a web form could send one cross-site without asking)' },
  poison_request: { status: 422, type: 'invalid_request_error', retryable: false, when: 'this exact request crashed the model server twice, or failed twice on its own; refused for `poison.ttlMs`' },
  upstream_rejected: { status: 'its 4xx', type: 'invalid_request_error', retryable: false, when: 'the model server refused the request (its own 4xx status); the message quotes the reason it gave (a prompt over its context, say)' },
  internal_error: { status: 500, type: 'server_error', retryable: true, when: 'mlx-guard itself failed; its log says how' },
  not_implemented: { status: 501, type: 'invalid_request_error', retryable: false, when: 'an Ollama route mlx-guard does not serve (embeddings, model management); the message says what to do instead' },
  upstream_error: { status: 502, type: 'server_error', retryable: true, when: 'the model server failed this request: a 5xx, a dropped connection, a stream cut short, an answer that is not JSON' },
  model_server_unavailable: { status: 503, type: 'service_unavailable', retryable: true, when: 'no model server is ready (starting, restarting, given up); `Retry-After` says when to come back' },
  model_server_restarting: { status: 503, type: 'service_unavailable', retryable: true, when: 'the model server was lost while the request ran and it could not be replayed (content already sent, replays spent, a stop)' },
  breaker_open: { status: 503, type: 'service_unavailable', retryable: true, when: 'the inference breaker is open: the model server keeps failing; answered at once, with `Retry-After`' },
  queue_full: { status: 503, type: 'service_unavailable', retryable: true, when: '`maxPendingRequests` requests are in flight already' },
  model_too_large: { status: 507, type: 'server_error', retryable: false, when: 'with a memory budget (`models.memoryBudgetBytes`): the model needs more memory than the whole budget, so it is not loaded; the message gives the numbers' },
  upstream_timeout: { status: 504, type: 'server_error', retryable: true, when: 'no complete answer within `inference.deadlineMs` (a replay included), or the model server stalled mid-answer' },
} as const satisfies Record<string, { status: number | string; type: string; retryable: boolean; when: string }>;

export type PublicErrorCode = keyof typeof PUBLIC_ERRORS;
