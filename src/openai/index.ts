// The OpenAI protocol as mlx_lm.server speaks it: requests checked and made safe for it, its
// streams put back together, stop sequences applied, tool calls made whole. Pure code, no I/O:
// it runs wherever the request path needs it (the inference worker, the main thread).
export { DEFAULT_BODY_BOUNDS, exceedsBounds, type BodyBounds } from './bounds.js';
export { chatRequest, completionRequest, describeIssue, tokenCount, unreadFields } from './request-schema.js';
export { sanitizeRequest, type RequestLimits, type UpstreamRequest } from './sanitize.js';
export * from './answers.js';
