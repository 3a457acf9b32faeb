import type { ToolCallFormat } from './formats/format.js';
import { ParseSession } from './session.js';
import { Segmenter, TextWindow, type BlockSpec } from './segmenter.js';
import { StreamingToolCallParser } from './streaming.js';
import type { ParseOptions, ParseResult } from './types.js';

/**
 * The formats and the fallback chain. Formats come first by marker (found left to right, the
 * longest marker winning a tie; formats sharing a marker pick by payload, the hinted one first);
 * bare JSON, fenced JSON and pythonic lists are a last resort, only with declared tools (or the
 * format's hint), and only when every name in them is a declared tool.
 */
export class ParserRegistry {
  readonly #formats: ToolCallFormat[] = [];
  #blocks: BlockSpec[] = [];

  register(format: ToolCallFormat): this {
    if (this.#formats.some((f) => f.name === format.name)) throw new RangeError(`a tool-call format named "${format.name}" is already registered`);
    for (const block of format.blocks) {
      const same = this.#blocks.find((b) => b.open === block.open);
      if (same && String(same.close) !== String(block.close)) {
        throw new RangeError(`format "${format.name}" opens blocks with ${block.open} but ends them differently from an earlier format`);
      }
    }
    this.#formats.push(format);
    this.#blocks = uniqueBlocks(this.#formats);
    return this;
  }

  formats(): string[] {
    return this.#formats.map((f) => f.name);
  }

  /** Bound, so it can be handed around as a plain function: `breaker.call(parserRegistry.parseWithFallback, text)`. */
  readonly parseWithFallback = (text: string, options: ParseOptions = {}): ParseResult => {
    const session = this.session(options);
    const segmenter = new Segmenter(this.#blocks, options.startsInReasoning === true);
    const window = new TextWindow(text);
    segmenter.advance(window, true);
    return session.finish(segmenter.segments.map((segment) => session.segment(window, segment)));
  };

  /** A per-request incremental parser: feed chunks, get content deltas and whole calls. */
  createStreamParser(options: ParseOptions = {}): StreamingToolCallParser {
    return new StreamingToolCallParser(this.session(options), new Segmenter(this.#blocks, options.startsInReasoning === true), (text) => this.parseWithFallback(text, options));
  }

  /** The per-request machinery shared by the whole-text and the streaming parser. */
  session(options: ParseOptions): ParseSession {
    if (options.formatHint !== undefined && !this.#formats.some((f) => f.name === options.formatHint)) {
      throw new RangeError(`unknown formatHint "${options.formatHint}"; known formats: ${this.formats().join(', ')}`);
    }
    return new ParseSession(this.#formats, options);
  }
}

function uniqueBlocks(formats: readonly ToolCallFormat[]): BlockSpec[] {
  const blocks: BlockSpec[] = [];
  for (const format of formats) for (const block of format.blocks) if (!blocks.some((b) => b.open === block.open)) blocks.push(block);
  return blocks;
}
