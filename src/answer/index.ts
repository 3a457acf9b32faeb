// One home for an answer: the pipeline's pure steps (merge and frame) and each API's framing,
// with the public error table every framing speaks. No I/O: the same code runs in the inference
// worker (an answer with nothing to parse) or on the main thread.
export { anthropicError, AnthropicStreamFraming, AnthropicWholeFraming, countTokensFraming } from './anthropic.js';
export { PUBLIC_ERRORS, type PublicErrorCode } from './errors.js';
export type { PortableFraming, StreamFraming, WholeFraming } from './framing.js';
export { AnswerMerge, mergeWhole, wholeContent } from './merge.js';
export { OllamaStreamFraming, OllamaWholeFraming } from './ollama.js';
export { OpenAiStreamFraming, OpenAiWholeFraming, type OpenAiFramingOptions } from './openai.js';
export { ResponsesStreamFraming, ResponsesWholeFraming } from './responses.js';
export * from './portable.js';
