export { completeOnce, streamCompletion } from './client.js';
export type { UpstreamCallOptions } from './client.js';
export { isUpstreamFailure, UpstreamError } from './errors.js';
export type { UpstreamErrorCode } from './errors.js';
export { SseParser } from './sse.js';
export type { SseEvent } from './sse.js';
