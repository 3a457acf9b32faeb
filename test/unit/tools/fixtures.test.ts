// Every fixture in test/fixtures/tool-calls, parsed whole, streamed one character at a time, and
// streamed in seeded random chunks: the three must agree, and agree with the expectation.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parserRegistry, type ParseOptions, type ParseResult, type ToolDefinition } from '../../../src/index.js';

interface Fixture {
  id: string;
  text: string;
  tools?: string;
  options?: Omit<ParseOptions, 'tools'>;
  expect: {
    status: ParseResult['status'];
    /** `id`: the model's own id, which the call keeps; without it the call gets a new one. */
    calls: Array<{ name: string; arguments: Record<string, unknown>; id?: string }>;
    content: string;
    reasoning?: string;
    format?: string;
    /** Each must appear in some diagnostic; [] means none at all. */
    diagnostics?: string[];
  };
}

const directory = new URL('../../fixtures/tool-calls/', import.meta.url);
const toolSets = JSON.parse(readFileSync(new URL('tools.json', directory), 'utf8')) as Record<string, ToolDefinition[]>;
const files = readdirSync(directory).filter((f) => f.endsWith('.json') && f !== 'tools.json');
const fixtures = files.flatMap((file) => (JSON.parse(readFileSync(new URL(file, directory), 'utf8')) as { cases: Fixture[] }).cases);

const optionsOf = (fixture: Fixture): ParseOptions => ({ ...fixture.options, ...(fixture.tools ? { tools: toolSets[fixture.tools] } : {}) });
const withoutId = ({ name, arguments: args }: { name: string; arguments: Record<string, unknown> }) => ({ name, arguments: args });
const withoutIds = (result: ParseResult) => ({ ...result, calls: result.calls.map(withoutId) });

/** Streams `text` in the given chunks; returns what was released and the final result. */
function stream(text: string, chunks: string[], options: ParseOptions) {
  const parser = parserRegistry.createStreamParser(options);
  let content = '';
  const calls: Array<{ id: string; name: string; arguments: Record<string, unknown> }> = [];
  let callCountSeen = 0;
  for (const chunk of chunks) {
    const delta = parser.push(chunk);
    content += delta.content;
    calls.push(...delta.calls);
    expect(calls.length).toBeGreaterThanOrEqual(callCountSeen);
    callCountSeen = calls.length;
  }
  const last = parser.end();
  content += last.content;
  calls.push(...last.calls);
  expect(new Set(calls.map((c) => c.id)).size).toBe(calls.length);
  expect(text).toBe(chunks.join(''));
  return { content, calls, result: last.result };
}

function seededChunks(text: string, seed: number): string[] {
  const chars = [...text];
  const chunks: string[] = [];
  let state = seed;
  for (let i = 0; i < chars.length; ) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    const size = 1 + (state % 7);
    chunks.push(chars.slice(i, i + size).join(''));
    i += size;
  }
  return chunks;
}

describe(`tool-call fixtures (${fixtures.length} cases in ${files.length} files)`, () => {
  it('has at least 120 cases with unique ids', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(120);
    expect(new Set(fixtures.map((f) => f.id)).size).toBe(fixtures.length);
  });

  for (const fixture of fixtures) {
    it(fixture.id, () => {
      const options = optionsOf(fixture);
      const result = parserRegistry.parseWithFallback(fixture.text, options);
      const { expect: expected } = fixture;
      expect(result.status).toBe(expected.status);
      expect(result.calls.map(withoutId)).toEqual(expected.calls.map(withoutId));
      expect(result.content).toBe(expected.content);
      // A new id is nine alphanumerics, the one shape every chat template takes back (Mistral's only that).
      result.calls.forEach((call, i) => {
        const kept = expected.calls[i]!.id;
        if (kept !== undefined) expect(call.id).toBe(kept);
        else expect(call.id).toMatch(/^[A-Za-z0-9]{9}$/);
      });
      expect(new Set(result.calls.map((c) => c.id)).size).toBe(result.calls.length);
      if (expected.reasoning !== undefined) expect(result.reasoning).toBe(expected.reasoning);
      if (expected.format !== undefined) expect(result.format).toBe(expected.format);
      if (expected.diagnostics?.length === 0) expect(result.diagnostics).toEqual([]);
      for (const fragment of expected.diagnostics ?? []) expect(result.diagnostics.join('\n')).toContain(fragment);

      for (const chunks of [[...fixture.text], seededChunks(fixture.text, fixture.id.length)]) {
        const streamed = stream(fixture.text, chunks, options);
        expect(streamed.content).toBe(result.content);
        expect(streamed.calls.map(withoutId)).toEqual(result.calls.map(withoutId));
        expect(streamed.calls.filter((_, i) => expected.calls[i]!.id !== undefined).map((c) => c.id)).toEqual(expected.calls.flatMap((c) => (c.id !== undefined ? [c.id] : [])));
        expect(streamed.result.calls.map((c) => c.id)).toEqual(streamed.calls.map((c) => c.id));
        expect(withoutIds(streamed.result)).toEqual(withoutIds(result));
      }
    });
  }
});
