import { describe, expect, it } from 'vitest';
import { StreamShaper, type ChatChunk, type ParsedContent } from '../../../src/openai/index.js';
import { parserRegistry } from '../../../src/tools/index.js';
import type { SseEvent } from '../../../src/upstream/index.js';

describe('StreamShaper', () => {
  const data = (chunk: unknown): SseEvent => ({ type: 'data', data: JSON.stringify(chunk) });
  const delta = (content: string | undefined, finish: string | null = null) => data({ model: 'upstream', choices: [{ index: 0, delta: content === undefined ? {} : { content }, finish_reason: finish }] });
  const sent = (text: string) => JSON.parse(text.slice('data: '.length)) as { model: string; choices: Array<{ delta: Record<string, unknown>; finish_reason: string | null }> };
  const tools = [{ type: 'function' as const, function: { name: 'f' } }];

  /** What the responder does with a chunk when tools are declared: parse its content, end parsing with the finishing chunk. */
  function parseAndFinish(shaper: StreamShaper, events: SseEvent[]): string[] {
    const parser = parserRegistry.createStreamParser({ tools });
    return events
      .map((event) => {
        const shaped = shaper.shape(event);
        if (typeof shaped === 'string') return shaped;
        const content = StreamShaper.content(shaped);
        let parsed: ParsedContent | undefined = content === undefined ? undefined : parser.push(content);
        if (StreamShaper.finishes(shaped)) {
          const last = parser.end();
          parsed = { content: (parsed?.content ?? '') + last.content, calls: [...(parsed?.calls ?? []), ...last.calls] };
        }
        return shaper.finish(shaped, parsed);
      })
      .filter(Boolean);
  }

  it('with parsed content: a tool call goes out whole with a new id, numbered, and the finish says tool_calls', () => {
    const shaper = new StreamShaper({ kind: 'chat', model: 'mine', wantsUsage: false });
    const chunks = parseAndFinish(shaper, [delta('Sure. <tool_'), delta('call>{"name": "f", "arguments": {"a": 1}}</tool_call>'), delta(undefined, 'stop')]).map(sent);
    expect(chunks.every((chunk) => chunk.model === 'mine')).toBe(true);
    expect(chunks.map((chunk) => chunk.choices[0]!.delta.content ?? '').join('').trim()).toBe('Sure.');
    const calls = chunks.flatMap((chunk) => (chunk.choices[0]!.delta.tool_calls as Array<{ id: string; index: number; function: { arguments: string } }> | undefined) ?? []);
    expect(calls).toMatchObject([{ index: 0, type: 'function', function: { name: 'f', arguments: '{"a":1}' } }]);
    expect(calls[0]!.id).toMatch(/^[A-Za-z0-9]{9}$/);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('tool_calls');
    expect(shaper).toMatchObject({ sawFinish: true, lostCall: false });
  });

  it('without parsing the markup passes through; a usage chunk only when asked; a tool_calls finish with no call is noticed', () => {
    const shaper = new StreamShaper({ kind: 'chat', wantsUsage: false });
    const finish = (event: SseEvent) => {
      const shaped = shaper.shape(event);
      return typeof shaped === 'string' ? shaped : shaper.finish(shaped);
    };
    expect(sent(finish(delta('<tool_call>{"name": "f"}</tool_call>'))).choices[0]!.delta.content).toBe('<tool_call>{"name": "f"}</tool_call>');
    expect(shaper.shape(data({ choices: [], usage: { completion_tokens: 1 } }))).toBe('');
    expect(new StreamShaper({ kind: 'chat', wantsUsage: true }).shape(data({ choices: [], usage: { completion_tokens: 1 } }))).toMatch(/completion_tokens/);
    finish(delta(undefined, 'tool_calls'));
    expect(shaper).toMatchObject({ sawFinish: true, lostCall: true });
  });

  it('the server\'s own tool calls are normalised and numbered before the parsed ones', () => {
    const shaper = new StreamShaper({ kind: 'chat', wantsUsage: false });
    const chunk = shaper.shape(data({ choices: [{ index: 0, delta: { tool_calls: [{ id: 'x', function: { name: 'g', arguments: { b: 2 } } }], content: 'raw' }, finish_reason: null }] })) as ChatChunk;
    const out = sent(shaper.finish(chunk, { content: '', calls: [{ id: 'call_1', name: 'f', arguments: {} }] }));
    expect(out.choices[0]!.delta).toMatchObject({ tool_calls: [{ index: 0, type: 'function', function: { name: 'g', arguments: '{"b":2}' } }, { index: 1, id: 'call_1', function: { name: 'f', arguments: '{}' } }] });
    expect(out.choices[0]!.delta.content).toBeUndefined();
  });
});
