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
  /**
   * Output with no markers at all; tried with this format's hint, or as a last resort with declared
   * tools. Its `content`, if any, is prose that followed the calls.
   */
  parseBare?(text: string): BlockResult | undefined;
  /**
   * The tool that bare output opens a call of, read from its first characters (`{"name": "f"`,
   * `[f(`): when no reading finds a call in it, a call of a declared tool failed to parse, which
   * is reported, not passed on as text silently. The reason is `parseBlock`'s on the whole text.
   */
  bareCallName?(text: string): string | undefined;
  /** Whether `parseBare` is also tried without this format's hint (with declared tools only). */
  readonly bareWithoutHint?: boolean;
}
