import type { ParsedContent, StreamChunk } from '../openai/answers.js';
import type { PortableFraming, StreamFraming } from './framing.js';
import { AnswerMerge } from './merge.js';
import { OpenAiStreamFraming } from './openai.js';

/** One event of the model server's stream, shaped: a chunk (its JSON parsed), a comment, or its end. */
export type AnswerEvent = { type: 'chunk'; chunk: StreamChunk } | { type: 'comment'; text: string } | { type: 'done' };

/**
 * One streamed answer's pipeline after its events are shaped and its content parsed: merge, then
 * frame. It runs on one thread for the whole answer: where the answer is read (the inference
 * worker) when nothing is parsed and the framing is portable, else where it is parsed and written
 * (the main thread).
 */
export class AnswerStream {
  readonly merge = new AnswerMerge();

  constructor(readonly framing: StreamFraming) {}

  /** The client's text for one event ('' for nothing); `parsed` replaces a chunk's content when it was parsed. */
  event(event: AnswerEvent, parsed?: ParsedContent): string {
    if (event.type === 'comment') return this.framing.comment(event.text);
    if (event.type === 'done') return this.framing.done();
    const merged = this.merge.chunk(event.chunk, parsed);
    return merged ? this.framing.chunk(merged) : '';
  }
}

/** The framing a `PortableFraming` describes, built on the thread that runs it. */
export function framingFrom(portable: PortableFraming): StreamFraming {
  const { api: _api, ...options } = portable;
  return new OpenAiStreamFraming(options);
}
