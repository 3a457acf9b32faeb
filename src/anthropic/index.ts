// The Anthropic Messages API: requests translated to one chat completion for mlx_lm.server, and
// answers (whole or streamed) translated back. Pure code, no I/O, like src/openai.
export { newMessageId, stopReason, toMessage, toToolUseId, toUsage, type StopReason, type Usage } from './message.js';
export { countTokensRequest, messagesRequest, type CountTokensRequest, type MessagesRequest } from './request-schema.js';
export { toChatRequest } from './to-openai.js';
