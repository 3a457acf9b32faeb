// Random and adversarial text: the parser never throws, always returns a well-formed result, and
// streaming in any chunking agrees with parsing the whole text. (Linear time is measured in
// bench/tools.bench.ts: performance lives in benchmarks, not in timed tests.)
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parserRegistry, type ParseOptions, type ToolDefinition } from '../../../src/index.js';

// A call's id: the model's own when it wrote a plain one (a token of at most 64 characters), else nine new alphanumerics; never two alike in one answer.
const resultShape = z.strictObject({
  status: z.enum(['ok', 'none', 'error']),
  calls: z
    .array(z.strictObject({ id: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/), name: z.string(), arguments: z.record(z.string(), z.unknown()) }))
    .refine((calls) => new Set(calls.map((c) => c.id)).size === calls.length, 'two calls with one id'),
  content: z.string(),
  reasoning: z.string().optional(),
  format: z.string().optional(),
  diagnostics: z.array(z.string()),
});

const markers = [
  '<tool_call>', '</tool_call>', '<function=', '</function>', '<parameter=', '</parameter>', '<arg_key>', '</arg_key>', '<arg_value>', '</arg_value>',
  '<|python_tag|>', '<|python_start|>', '<|python_end|>', '<|tool_call_start|>', '<|tool_call_end|>', '[TOOL_CALLS]', '[ARGS]',
  '<|start|>assistant', '<|channel|>', '<|message|>', '<|call|>', '<|end|>', ' to=functions.get_weather', '<think>', '</think>', '[THINK]', '[/THINK]',
  '<｜tool▁calls▁begin｜>', '<｜tool▁call▁begin｜>', '<｜tool▁sep｜>', '<｜tool▁call▁end｜>', '<｜tool▁calls▁end｜>', '<｜DSML｜function_calls>',
  '<|tool_calls_section_begin|>', '<|tool_call_begin|>', '<|tool_call_argument_begin|>', '<|tool_call_end|>', '`', '```', '```json\n',
  '<minimax:tool_call>', '</minimax:tool_call>', '<invoke name="get_weather">', '</invoke>', '<parameter name="city">', '<｜tool_calls_begin｜>', '<｜tool_calls_end｜>',
  '<steptml:invoke name="get_weather">', '</steptml:invoke>', '<function name="get_weather">', '<|tool_call|>', '<TOOLCALL>', '</TOOLCALL>', '<|action_start|><|plugin|>',
  '<|action_end|>', '<|START_ACTION|>', '<|END_ACTION|>', '<tool_calls>', '</tool_calls>', 'functools[', '<|tools_prefix|>', '<|tools_suffix|>',
  '<|tool_call>', '<tool_call|>', 'call:get_weather{', '<|"|>', '<escape>', '<start_function_call>', '<end_function_call>', '<function_call>', '</function_call>',
  '<tools>', '</tools>', '<response>', '</response>', '<seed:tool_call>', '</seed:tool_call>', 'brave_search.call(',
];
const pieces = ['{', '}', '[', ']', '"', "'", ':', ',', '\\', '\n', ' ', 'name', 'arguments', 'get_weather', 'city', 'Paris', '"name": "get_weather"', '"arguments": {"city": "Paris"}', 'True', 'None', '(', ')', '=', '1e999', 'b\'x\'',
  // Ids models write, kept when plain: repeated, odd and long ones must still come out unique and plain.
  '"tool_call_id": "0"', '"id": "0"', '"id": "a b"', `"id": "${'x'.repeat(70)}"`, 'functions.get_weather:0', '"tool_name": "get_weather"', '"parameters": {"city": "Paris"}',
  // Whitespace beyond ASCII that String.prototype.trim removes: found once by a random seed (U+1680),
  // listed so every run tries them.
  '\u00a0', '\u1680', '\u2003', '\u2028', '\u3000', '\ufeff', '\t', '\r\n'];
const token = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...markers) }, { weight: 4, arbitrary: fc.constantFrom(...pieces) }, { weight: 1, arbitrary: fc.string({ maxLength: 8, unit: 'grapheme' }) });
const modelText = fc.array(token, { maxLength: 120 }).map((parts) => parts.join(''));

const weather: ToolDefinition[] = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
const options = fc.record({
  tools: fc.option(fc.constant(weather), { nil: undefined }),
  formatHint: fc.option(fc.constantFrom(...parserRegistry.formats()), { nil: undefined }),
  startsInReasoning: fc.option(fc.boolean(), { nil: undefined }),
}) as fc.Arbitrary<ParseOptions>;

function chunked(text: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const chunks: string[] = [];
  let last = 0;
  for (const point of [...points, text.length]) {
    chunks.push(text.slice(last, point));
    last = point;
  }
  return chunks;
}

describe('fuzzing the tool-call parser', () => {
  it('random marker soup: never throws, always well-formed, streaming agrees with the whole', () => {
    fc.assert(
      fc.property(modelText, options, fc.array(fc.nat(), { maxLength: 20 }), (text, opts, cuts) => {
        const whole = resultShape.parse(parserRegistry.parseWithFallback(text, opts));
        const parser = parserRegistry.createStreamParser(opts);
        let content = '';
        const names: string[] = [];
        for (const chunk of chunked(text, cuts)) {
          const delta = parser.push(chunk);
          content += delta.content;
          names.push(...delta.calls.map((c) => c.name));
        }
        const last = parser.end();
        content += last.content;
        names.push(...last.calls.map((c) => c.name));
        expect(content).toBe(whole.content);
        expect(names).toEqual(whole.calls.map((c) => c.name));
      }),
      { numRuns: 600 },
    );
  });

  it('real calls with random prose around them, cut at random points: streaming still agrees with the whole', () => {
    const directory = new URL('../../fixtures/tool-calls/', import.meta.url);
    const texts = readdirSync(directory)
      .filter((f) => f !== 'tools.json')
      .flatMap((f) => (JSON.parse(readFileSync(new URL(f, directory), 'utf8')) as { cases: Array<{ text: string }> }).cases.map((c) => c.text));
    const prose = fc.constantFrom('', 'Sure. ', 'Let me check.\n', '```\n', '`x` ', '<think>hm</think>', '\n\n');
    const sample = fc.tuple(prose, fc.constantFrom(...texts), prose, fc.oneof(fc.constant(1), fc.double({ min: 0.2, max: 1, noNaN: true }))).map(([before, text, after, keep]) => {
      const whole = before + text + after;
      return whole.slice(0, Math.ceil(whole.length * keep));
    });
    let ok = 0;
    fc.assert(
      fc.property(sample, options, fc.array(fc.nat(), { maxLength: 30 }), (text, opts, cuts) => {
        const whole = resultShape.parse(parserRegistry.parseWithFallback(text, { ...opts, tools: weather }));
        if (whole.status === 'ok') ok++;
        const parser = parserRegistry.createStreamParser({ ...opts, tools: weather });
        let content = '';
        const calls: unknown[] = [];
        for (const chunk of chunked(text, cuts)) {
          const delta = parser.push(chunk);
          content += delta.content;
          calls.push(...delta.calls.map((c) => [c.name, c.arguments]));
        }
        const last = parser.end();
        content += last.content;
        calls.push(...last.calls.map((c) => [c.name, c.arguments]));
        expect(content).toBe(whole.content);
        expect(calls).toEqual(whole.calls.map((c) => [c.name, c.arguments]));
      }),
      { numRuns: 1_500 },
    );
    expect(ok).toBeGreaterThan(300); // the property must really exercise calls
  });

  it('stopping mid-stream at any point and sending the rest raw loses no text and repeats none (resumeAt)', () => {
    const plain = fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string({ maxLength: 8, unit: 'grapheme' })), { maxLength: 80 }).map((parts) => parts.join('').replace(/[`<[]/g, ''));
    fc.assert(
      fc.property(plain, options, fc.array(fc.nat(), { maxLength: 20 }), fc.nat(), (text, opts, cuts, stopAt) => {
        const parser = parserRegistry.createStreamParser(opts);
        const chunks = chunked(text, cuts);
        const stop = stopAt % (chunks.length + 1);
        let released = '';
        let fed = 0;
        let previous = 0;
        for (const chunk of chunks.slice(0, stop)) {
          released += parser.push(chunk).content;
          fed += chunk.length;
          expect(parser.resumeAt).toBeGreaterThanOrEqual(previous);
          expect(parser.resumeAt).toBeLessThanOrEqual(fed);
          previous = parser.resumeAt;
        }
        expect((released + text.slice(parser.resumeAt)).trimStart()).toBe(text.trimStart());
      }),
      { numRuns: 1_000 },
    );
  });

  it('resumeAt after a call was sent skips its markup, and waits at reasoning still open', () => {
    const text = 'Sure. <tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call> And <think>hmm';
    const parser = parserRegistry.createStreamParser({ tools: weather });
    const delta = parser.push(text);
    expect(delta.calls.map((c) => c.name)).toEqual(['get_weather']);
    expect(delta.content + text.slice(parser.resumeAt)).toBe('Sure.  And <think>hmm');
  });

  const adversarial: Array<[string, string]> = [
    ['100k nested brackets after a marker', '<tool_call>' + '['.repeat(100_000)],
    ['100k nested braces, closed', '<|python_tag|>' + '{'.repeat(50_000) + '}'.repeat(50_000)],
    ['a marker repeated 10k times, never closed', '<tool_call>'.repeat(10_000)],
    ['[TOOL_CALLS] repeated 10k times', '[TOOL_CALLS]'.repeat(10_000)],
    ['100k backticks', '`'.repeat(100_000)],
    ['unclosed Qwen parameters', '<tool_call><function=f>' + '<parameter=a>x'.repeat(10_000)],
    ['a deeply nested pythonic list', '<|python_start|>[f(a=' + '['.repeat(5_000) + ']'.repeat(5_000) + ')]'],
    ['a 100k-character JSON string argument', '<tool_call>{"name": "get_weather", "arguments": {"city": "' + 'x'.repeat(100_000) + '"}}</tool_call>'],
    ['reasoning that never closes', '<think>' + 'thought '.repeat(12_500)],
    ['harmony channels without messages', '<|channel|>'.repeat(8_000)],
    ['functools[ repeated 10k times, never closed', 'functools['.repeat(10_000)],
    ['MiniMax invokes never closed', '<minimax:tool_call>' + '<invoke name="f"><parameter name="a">x'.repeat(3_000)],
    ['Gemma strings never closed', '<|tool_call>' + 'call:f{a:<|"|>x'.repeat(5_000)],
    ['Granite list of 20k open objects', '<|tool_call|>[' + '{"name": "f", "arguments": '.repeat(4_000)],
    ['prose, then 20k JSON objects opened and never closed', 'Checking. ' + '{"a": '.repeat(20_000)],
    ['10k JSON values that are not calls, then a call', 'Values: ' + '{"x": 1} '.repeat(10_000) + '{"name": "get_weather", "parameters": {"city": "Paris"}}'],
    ['30k object openings that never become values', '{"'.repeat(30_000)],
    ['calls after prose, each followed by prose, 5k times', 'Hm {"name": "get_weather", "parameters": {}} no. '.repeat(5_000)],
    ['lone surrogates and control characters', '\ud800\u0000\u001b<tool_call>{"name": "\udfff"}</tool_call>'.repeat(2_000)],
  ];
  for (const [name, text] of adversarial) {
    it(`adversarial: ${name}`, () => {
      const result = resultShape.parse(parserRegistry.parseWithFallback(text, { tools: weather }));
      expect(['ok', 'none', 'error']).toContain(result.status);
      const parser = parserRegistry.createStreamParser({ tools: weather });
      for (let i = 0; i < text.length; i += 4_096) parser.push(text.slice(i, i + 4_096));
      expect(parser.end().result.content).toBe(result.content);
    });
  }
});
