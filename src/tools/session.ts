import type { BlockContext, ToolCallFormat } from './formats/format.js';
import { jsonCallsInSequence } from './formats/shared.js';
import { callIdFor } from './ids.js';
import { parseJsonLenient } from './json-lenient.js';
import { applySchema, isPlainObject } from './schema.js';
import type { Segment, TextWindow } from './segmenter.js';
import { trailingJsonCalls } from './trailing-json.js';
import type { BlockResult, ParseOptions, ParseResult, RawCall, ToolCall, ToolDefinition } from './types.js';

/** What one decided segment contributes to the result. */
export interface SegmentOutcome {
  content: string;
  reasoning: string;
  calls: ToolCall[];
  diagnostics: string[];
  /** Markup that yielded no call (its text stays in the content). */
  failed: boolean;
  format?: string;
}

/**
 * One response's parsing state shared by the whole-text and the streaming parser: the declared
 * tools, the formats in the order to try them, and how a decided segment and the whole result are read.
 */
export class ParseSession {
  readonly tools: Map<string, ToolDefinition>;
  readonly #formats: ToolCallFormat[];
  readonly #hint: ToolCallFormat | undefined;
  /** The ids of this answer's calls so far: a model that repeats one gets a new one for the repeat. */
  readonly #usedIds = new Set<string>();

  constructor(formats: readonly ToolCallFormat[], readonly options: ParseOptions) {
    this.tools = new Map((options.tools ?? []).map((tool) => [tool.function.name, tool]));
    this.#hint = formats.find((f) => f.name === options.formatHint);
    this.#formats = this.#hint ? [this.#hint, ...formats.filter((f) => f !== this.#hint)] : [...formats];
  }

  /** Whether the last-resort readings of bare output may apply (so streaming must hold it back). */
  get bareReadingsPossible(): boolean {
    return this.tools.size > 0 || this.#hint?.parseBare !== undefined;
  }

  /** Whether JSON calls after prose may be read (see `trailingJsonCalls`): only for declared tools. */
  get trailingCallsPossible(): boolean {
    return this.tools.size > 0;
  }

  segment(text: TextWindow, segment: Segment): SegmentOutcome {
    const outcome: SegmentOutcome = { content: '', reasoning: '', calls: [], diagnostics: [], failed: false };
    if (segment.kind === 'text') {
      outcome.content = text.slice(segment.start, segment.end);
    } else if (segment.kind === 'reasoning') {
      outcome.reasoning = text.slice(...segment.inner);
    } else {
      const payload = text.slice(...segment.payload);
      const context: BlockContext = { open: segment.spec.open, complete: segment.complete };
      const owners = this.#formats.filter((f) => f.blocks.some((b) => b.open === context.open));
      const format = owners.find((f) => f.accepts?.(payload, context.open) ?? true) ?? owners[0]!;
      const result = format.parseBlock(payload, context);
      outcome.format = format.name;
      this.#collect(result, format.name, outcome);
      if (result.calls.length > 0 && outcome.calls.length === 0) outcome.diagnostics.push(`${format.name}: no call in the block was usable`);
      if (outcome.calls.length === 0 && result.content === undefined && result.reasoning === undefined) {
        outcome.failed = true;
        outcome.content = text.slice(segment.start, segment.end);
        if (result.error) outcome.diagnostics.push(`${format.name}: ${result.error}`);
      }
    }
    return outcome;
  }

  finish(outcomes: SegmentOutcome[]): ParseResult {
    const calls = outcomes.flatMap((o) => o.calls);
    const diagnostics = outcomes.flatMap((o) => o.diagnostics);
    const reasoning = outcomes.map((o) => o.reasoning).join('');
    const content = outcomes.map((o) => o.content).join('');
    const sawMarkup = outcomes.some((o) => o.format !== undefined);
    const format = outcomes.find((o) => o.calls.length > 0)?.format ?? outcomes.find((o) => o.failed)?.format;
    const result: ParseResult = {
      status: calls.length > 0 ? 'ok' : outcomes.some((o) => o.failed) ? 'error' : 'none',
      calls,
      content: content.trim(),
      ...(reasoning ? { reasoning } : {}),
      ...(format ? { format } : {}),
      diagnostics,
    };
    return sawMarkup ? result : this.#bare(content, result);
  }

  /** The last resort for output without markers. */
  #bare(content: string, plain: ParseResult): ParseResult {
    if (!this.bareReadingsPossible) return plain;
    const formats = this.#formats.filter((f) => f.parseBare && (f === this.#hint || f.bareWithoutHint === true));
    for (const format of formats) {
      const found = format.parseBare!(content);
      const outcome = found && this.#acceptBare(found, format.name);
      if (outcome) return { ...plain, status: 'ok', calls: outcome.calls, content: found.content?.trim() ?? '', format: format.name, diagnostics: outcome.diagnostics };
    }
    const fenced = this.tools.size > 0 ? fenceEndingMessage(content) : undefined;
    const inFence = fenced && this.#fencedCalls(fenced.body);
    if (fenced && inFence) {
      const outcome = this.#acceptBare(inFence.result, inFence.format);
      if (outcome) return { ...plain, status: 'ok', calls: outcome.calls, content: fenced.before.trim(), format: inFence.format, diagnostics: outcome.diagnostics };
    }
    // The shape is Llama 3's (the models that write calls after a sentence), so the format is its.
    const trailing = this.trailingCallsPossible ? trailingJsonCalls(content) : undefined;
    if (trailing) {
      const outcome = this.#acceptBare({ calls: trailing.calls }, 'llama3_json');
      if (outcome) return { ...plain, status: 'ok', calls: outcome.calls, content: trailing.before.trim(), format: 'llama3_json', diagnostics: outcome.diagnostics };
    }
    return this.#failedBareCall(content, formats) ?? plain;
  }

  /** Output that opens as a call of a declared tool and does not parse: an error, with the reason. */
  #failedBareCall(content: string, formats: readonly ToolCallFormat[]): ParseResult | undefined {
    for (const format of formats) {
      const name = format.bareCallName?.(content);
      if (name === undefined || !this.tools.has(name)) continue;
      // Read as markup, what parses (a record that merely names the tool, without arguments) is data.
      const { error } = format.parseBlock(content.trim(), { open: '', complete: true });
      if (error === undefined) continue;
      return { status: 'error', calls: [], content: content.trim(), format: format.name, diagnostics: [`${format.name}: the answer opens as a call of ${name} that does not parse: ${error}`] };
    }
    return undefined;
  }

  /** What a fence that ends the message holds: JSON calls and nothing else, or one block of a known format. */
  #fencedCalls(body: string): { format: string; result: BlockResult } | undefined {
    const json = jsonCallsInSequence(body, true);
    if (!('error' in json) && body.slice(json.end).trim() === '') return { format: 'fenced_json', result: { calls: json.calls } };
    return this.#markupIn(body);
  }

  /**
   * A fence's body that is one whole block of a known format (a Hermes `<tool_call>` the model
   * wrapped in a fence, as llama.cpp reads it), read by that format.
   */
  #markupIn(body: string): { format: string; result: BlockResult } | undefined {
    const text = body.trim();
    for (const format of this.#formats) {
      for (const block of format.blocks) {
        if (!text.startsWith(block.open)) continue;
        const close = block.close?.find((marker) => text.endsWith(marker));
        if (!close) continue;
        const payload = text.slice(block.open.length, text.length - close.length);
        if (format.accepts && !format.accepts(payload, block.open)) continue;
        return { format: format.name, result: format.parseBlock(payload, { open: block.open, complete: true }) };
      }
    }
    return undefined;
  }

  /** Bare output counts only when every name in it is a declared tool (any name, with a hint and no tools). */
  #acceptBare(found: BlockResult, format: string): SegmentOutcome | undefined {
    if (found.calls.length === 0) return undefined;
    if (this.tools.size > 0 && !found.calls.every((c) => this.tools.has(c.name))) return undefined;
    const outcome: SegmentOutcome = { content: '', reasoning: '', calls: [], diagnostics: [], failed: false, format };
    // Bare output is the whole answer: each reading tried starts with no id used.
    this.#collect(found, format, outcome, new Set());
    return outcome.calls.length === found.calls.length ? outcome : undefined;
  }

  #collect(result: BlockResult, format: string, outcome: SegmentOutcome, usedIds = this.#usedIds): void {
    if (result.content !== undefined) outcome.content += result.content;
    if (result.reasoning !== undefined) outcome.reasoning += result.reasoning;
    outcome.diagnostics.push(...(result.diagnostics ?? []).map((d) => `${format}: ${d}`));
    for (const raw of result.calls) {
      const call = this.#finishCall(raw, outcome.diagnostics, usedIds);
      if (call) outcome.calls.push(call);
    }
  }

  /** Arguments as a plain object (a JSON string decoded once), checked against the declared tool. */
  #finishCall(raw: RawCall, diagnostics: string[], usedIds: Set<string>): ToolCall | undefined {
    let args = raw.arguments;
    if (typeof args === 'string') {
      const decoded = args.trim() === '' ? { ok: true as const, value: {} } : parseJsonLenient(args);
      if (!decoded.ok) {
        diagnostics.push(`${raw.name}: the arguments string is not JSON`);
        return undefined;
      }
      args = decoded.value;
    }
    if (!isPlainObject(args)) {
      diagnostics.push(`${raw.name}: the arguments are not an object`);
      return undefined;
    }
    const tool = this.tools.get(raw.name);
    if (this.tools.size > 0 && !tool) diagnostics.push(`unknown tool "${raw.name}" (declared: ${[...this.tools.keys()].join(', ')})`);
    const checked = applySchema(raw.name, args, tool?.function.parameters, !raw.typed);
    diagnostics.push(...checked.diagnostics);
    return { id: callIdFor(raw.id, usedIds), name: raw.name, arguments: checked.arguments };
  }
}

/**
 * A code fence that ends the message (plain, `json` or `xml`): its body and the text before it.
 * Fences pair in order of appearance (as the segmenter and the streaming parser pair them), so
 * the last one must close a pair.
 */
function fenceEndingMessage(content: string): { body: string; before: string } | undefined {
  const trimmed = content.trimEnd();
  if (!trimmed.endsWith('```')) return undefined;
  const fences: number[] = [];
  for (let at = trimmed.indexOf('```'); at >= 0; at = trimmed.indexOf('```', at + 3)) fences.push(at);
  if (fences.length % 2 !== 0) return undefined;
  const open = fences.at(-2)!;
  const bodyStart = trimmed.indexOf('\n', open);
  if (bodyStart < 0 || bodyStart > trimmed.length - 3) return undefined;
  const language = trimmed.slice(open + 3, bodyStart).trim();
  if (language !== '' && language !== 'json' && language !== 'xml') return undefined;
  return { body: trimmed.slice(bodyStart + 1, trimmed.length - 3), before: trimmed.slice(0, open) };
}
