// The OpenAI Responses API (`/v1/responses`, what Codex speaks): its requests checked and
// translated into chat completions for the model server, and its response objects and items.
// Pure code, no I/O.
export { inputItems, responsesRequest, type InputItem, type ResponsesRequest, type ResponsesTool } from './request-schema.js';
export { ResponseStore, type ResponseStoreLimits, type StoredResponse } from './store.js';
export { messageItem, outputText, reasoningItem, reasoningText, ResponseShape, toResponse, toUsage, type OutputItem, type ResponsesUsage } from './response.js';
export { conversationOf, toChatRequest } from './to-chat.js';
