import type { BlockSpec } from '../segmenter.js';
import type { BlockResult } from '../types.js';

export interface BlockContext {
  /** The opening marker the block started with. */
  open: string;
  /** False when the text ended before the block's end marker (or end) arrived. */
  complete: boolean;
}

/**
 * One tool-call format: where its markup starts and ends, and how to read one block of it. Formats
 * that share an opening marker (`<tool_call>`) say which payloads are theirs with `accepts`.
 */
export interface ToolCallFormat {
  readonly name: string;
  readonly blocks: readonly BlockSpec[];
  accepts?(payload: string, open: string): boolean;
  parseBlock(payload: string, context: BlockContext): BlockResult;
  /** Output with no markers at all; tried with this format's hint, or as a last resort with declared tools. */
  parseBare?(text: string): BlockResult | undefined;
  /** Whether `parseBare` is also tried without this format's hint (with declared tools only). */
  readonly bareWithoutHint?: boolean;
}
