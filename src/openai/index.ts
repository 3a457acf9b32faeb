// The OpenAI protocol: requests checked and made safe for mlx_lm.server, answers shaped for the
// client (streamed or whole), tool calls merged. Pure code, no I/O: it runs wherever the request
// path needs it (the inference worker, the main thread).
export { CompletionAggregator, wholeAsEvents } from './aggregate.js';
export { DEFAULT_BODY_BOUNDS, exceedsBounds, type BodyBounds } from './bounds.js';
export { chatRequest, completionRequest, describeIssue, unreadFields } from './request-schema.js';
export { sanitizeRequest, type UpstreamRequest } from './sanitize.js';
export { filterEvent, StopSequenceFilter } from './stop-sequences.js';
export { isChatChunk, StreamShaper, type ChatChunk, type StreamChunk, type StreamOptions } from './stream.js';
export { mergeToolCalls, ServerToolCalls, type ParsedContent } from './tool-calls.js';
export { shapeWhole, wholeContent } from './whole.js';
