// The answer side of the OpenAI protocol, without its request schemas: what the worker threads
// load (src/pool/worker.ts). zod, which the request schemas are built with, costs each thread that
// loads it about 14 MB of resident memory and is of no use where answers are read and framed.
export { CompletionAggregator, wholeAsEvents } from './aggregate.js';
export { isChatChunk, type ChatChunk, type StreamChunk } from './chunks.js';
export { filterEvent, StopSequenceFilter } from './stop-sequences.js';
export { argumentsObject, mergeToolCalls, ServerToolCalls, type ParsedContent } from './tool-calls.js';
