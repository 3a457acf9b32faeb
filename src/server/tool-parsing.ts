import type { MessagePort } from 'node:worker_threads';
import type { CircuitBreaker, Permit } from '../breaker/index.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { ParsedContent } from '../openai/index.js';
import type { ParseStream } from '../pool/parse-stream.js';
import type { Pools } from '../pool/pools.js';
import type { ToolDefinition } from '../tools/index.js';

/** Why an answer's content was passed through as text instead of parsed for tool calls. */
export type TextModeReason = 'breaker_open' | 'budget' | 'deadline' | 'worker_lost' | 'error';

const DESCRIBED: Record<TextModeReason, string> = {
  breaker_open: 'off (parse breaker open)',
  budget: 'off (parse budget spent)',
  deadline: 'off (parse deadline passed)',
  worker_lost: 'off (parse worker lost)',
  error: 'off (parsing failed)',
};

/** The value of the `x-mlx-guard-tool-parsing` header (or stream comment) for a reason. */
export const describeTextMode = (reason: TextModeReason) => DESCRIBED[reason];

/**
 * The same header's value for an answer whose tool call did not parse (it passed through as
 * text): the parser's reason, in characters a header may carry.
 */
export const describeUnparsed = (reason: string) => `error (${reason.replace(/[^\x20-\x7e]/g, '?')})`;

interface ToolParsingDeps {
  pools: Pools;
  parseBreaker: CircuitBreaker;
  metrics: Metrics;
  logger: Logger;
  /** Parse time one answer may take in all. */
  budgetMs: number;
  /** Time one request to the parse worker may take before its thread is terminated. */
  replyDeadlineMs: number;
}

/**
 * Tool-call parsing for both kinds of answer, in one place: in the parse pool, under the parse
 * breaker, within a hard per-answer budget. An answer whose parsing fails or overruns passes
 * through as text from where parsing stopped (nothing lost, nothing repeated), and the reason is
 * counted and logged; no other request waits on it.
 */
export class ToolParsing {
  constructor(readonly deps: ToolParsingDeps) {}

  /**
   * A whole answer's content: its calls and the rest (unchanged when it has none), and the reason
   * a call in it did not parse, if one did not; or why it passes through as text.
   */
  async whole(text: string, tools: ToolDefinition[]): Promise<{ parsed: ParsedContent; unparsed?: string } | { textMode: TextModeReason }> {
    const stream = this.stream(tools);
    try {
      const parsed = await stream.push(text, true);
      if (stream.textMode) return { textMode: stream.textMode };
      return { parsed: parsed.calls.length > 0 ? parsed : { content: text, calls: [] }, ...(stream.unparsed !== undefined ? { unparsed: stream.unparsed } : {}) };
    } finally {
      stream.release();
    }
  }

  /** A streamed answer's parser: content goes in chunk by chunk, and comes out parsed. */
  stream(tools: ToolDefinition[]): StreamParsing {
    const permit = this.deps.parseBreaker.tryAcquire();
    if (!permit) this.noteTextMode('breaker_open', 'the parse breaker is open');
    return new StreamParsing(this, permit ?? undefined, permit ? this.deps.pools.openParseStream({ tools }, this.deps.budgetMs) : undefined);
  }

  noteUnparsed(reason: string): void {
    this.deps.metrics.unparsedToolCalls.inc();
    this.deps.logger.warn({ event: 'tool_call_unparsed', reason }, 'an answer held a tool call that did not parse: it passed through as text, and the client is told so');
  }

  noteTextMode(reason: TextModeReason, detail: string): void {
    this.deps.metrics.toolParsingOff.inc({ reason });
    this.deps.logger.warn({ event: 'tool_parsing_off', reason, detail }, `tool parsing stopped (${reason}): the rest of the answer passes through as text`);
  }
}

/**
 * One streamed answer's parsing. The raw text since the parser's last resume point is kept here,
 * so that when parsing stops (budget spent, worker unresponsive or lost) the answer goes on as
 * plain text from exactly there. Calls must not overlap: each waits for the one before.
 */
export class StreamParsing {
  #raw = '';
  /** Where `#raw` starts in the answer's text: the last resume point the parser reported. */
  #rawBase = 0;
  #textMode: TextModeReason | undefined;
  #unparsed: string | undefined;

  constructor(
    readonly owner: ToolParsing,
    readonly permit: Permit | undefined,
    readonly parser: ParseStream | undefined,
  ) {
    if (!parser) this.#textMode = 'breaker_open';
  }

  /** Once the answer ended: why a tool call in it did not parse, if one did not. */
  get unparsed(): string | undefined {
    return this.#unparsed;
  }

  /** Why the content is passing through as text, once it is. */
  get textMode(): TextModeReason | undefined {
    return this.#textMode;
  }

  /** Text of the answer; with `end`, its last, and the end in the same round trip (sent on, unless the inference worker feeds the parser). */
  async push(text: string, end = false): Promise<ParsedContent> {
    if (this.#textMode || !this.parser) return { content: text, calls: [] };
    this.#raw += text;
    return this.#settle(await this.parser.request(end ? { text, end } : { text }, this.owner.deps.replyDeadlineMs), end);
  }

  /**
   * The parser's feed, for the inference worker to send the answer's text on directly (see
   * `ParseStream.takeFeed`); `push` then only waits for each reply. Undefined once parsing is off.
   */
  takeFeed(): MessagePort | undefined {
    return this.#textMode ? undefined : this.parser?.takeFeed();
  }

  /** However the answer ended: a parse that did not finish proved nothing either way (what still waits gets its text back as it was). */
  release(): void {
    this.permit?.ignore();
    this.parser?.close();
  }

  #settle(reply: Awaited<ReturnType<ParseStream['request']>>, ended: boolean): ParsedContent {
    if (!reply.ok) {
      if (!('lost' in reply)) return { content: this.#stop('error', reply.message), calls: [] };
      // Released while the reply was awaited: the answer is over, nothing failed.
      if (reply.lost === 'closed') return { content: this.#takeRaw(), calls: [] };
      return { content: this.#stop(reply.lost, reply.message), calls: [] };
    }
    const { content, calls } = reply;
    if (calls.length > 0) this.owner.deps.metrics.repairedToolCalls.inc(calls.length);
    this.#raw = this.#raw.slice(reply.resumeAt - this.#rawBase);
    this.#rawBase = reply.resumeAt;
    if (ended) {
      if (reply.unparsed !== undefined) {
        this.#unparsed = reply.unparsed;
        this.owner.noteUnparsed(reply.unparsed);
      }
      if (reply.overBudget) this.permit?.failure(new Error('the parse budget was spent'));
      else this.permit?.success();
      return { content, calls };
    }
    if (reply.overBudget) return { content: content + this.#stop('budget', `parsing took more than ${this.owner.deps.budgetMs} ms`), calls };
    return { content, calls };
  }

  /** Parsing stops here: the raw text from the last resume point is what the client still gets. */
  #stop(reason: TextModeReason, detail: string): string {
    this.#textMode = reason;
    this.permit?.failure(new Error(detail));
    this.parser?.close();
    this.owner.noteTextMode(reason, detail);
    return this.#takeRaw();
  }

  /** The raw text from the last resume point, which the client gets as it is. */
  #takeRaw(): string {
    const rest = this.#raw;
    this.#raw = '';
    return rest;
  }
}
