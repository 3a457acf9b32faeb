export { CompletionAggregator, wholeAsEvents } from './aggregate.js';
export { completeOnce, streamCompletion } from './client.js';
export type { UpstreamCallOptions } from './client.js';
export { isUpstreamFailure, UpstreamError } from './errors.js';
export type { UpstreamErrorCode } from './errors.js';
export { sanitizeRequest } from './sanitize.js';
export type { UpstreamRequest } from './sanitize.js';
export { SseParser } from './sse.js';
export type { SseEvent } from './sse.js';
