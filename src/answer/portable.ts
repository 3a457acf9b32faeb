// What of the answer pipeline runs in the inference worker (src/pool/worker.ts): merge and the
// portable (OpenAI) framing, and the runs of text the parser gets. Nothing here reaches another
// API's layer or a request schema, so the worker threads never load zod (about 14 MB of resident
// memory each); the main thread takes the whole layer through index.ts.
export { parseRuns, type ParseRun } from './parse-runs.js';
export { AnswerStream, framingFrom, type AnswerEvent } from './stream.js';
