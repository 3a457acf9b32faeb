import { describe, expect, it } from 'vitest';
import { StreamRewriter } from '../../../src/pool/stream-rewriter.js';

describe('StreamRewriter', () => {
  const data = (chunk: unknown) => ({ type: 'data' as const, data: JSON.stringify(chunk) });
  const delta = (content: string | undefined, finish: string | null = null) => data({ model: 'upstream', choices: [{ index: 0, delta: content === undefined ? {} : { content }, finish_reason: finish }] });
  const sent = (text: string) => JSON.parse(text.slice('data: '.length)) as { model: string; choices: Array<{ delta: Record<string, unknown>; finish_reason: string | null }> };
  const tools = [{ type: 'function' as const, function: { name: 'f' } }];

  it('holds a tool call back until it is whole, sends it with a call_ id, and says tool_calls at the end', () => {
    const rewriter = new StreamRewriter({ kind: 'chat', model: 'mine', wantsUsage: false, tools });
    const texts = [delta('Sure. <tool_'), delta('call>{"name": "f", "arguments": {"a": 1}}</tool_call>'), delta(undefined, 'stop')].map((event) => rewriter.rewrite(event)).filter(Boolean);
    const chunks = texts.map(sent);
    expect(chunks.every((chunk) => chunk.model === 'mine')).toBe(true);
    expect(chunks.map((chunk) => chunk.choices[0]!.delta.content ?? '').join('').trim()).toBe('Sure.');
    const calls = chunks.flatMap((chunk) => (chunk.choices[0]!.delta.tool_calls as Array<{ id: string; index: number; function: { arguments: string } }> | undefined) ?? []);
    expect(calls).toMatchObject([{ index: 0, type: 'function', function: { name: 'f', arguments: '{"a":1}' } }]);
    expect(calls[0]!.id).toMatch(/^call_/);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('tool_calls');
    expect(rewriter).toMatchObject({ sawFinish: true, lostCall: false, parseError: undefined });
  });

  it('without tools the markup passes through; a usage chunk only when asked; a tool_calls finish with no call is noticed', () => {
    const rewriter = new StreamRewriter({ kind: 'chat', wantsUsage: false });
    expect(sent(rewriter.rewrite(delta('<tool_call>{"name": "f"}</tool_call>'))).choices[0]!.delta.content).toBe('<tool_call>{"name": "f"}</tool_call>');
    expect(rewriter.rewrite(data({ choices: [], usage: { completion_tokens: 1 } }))).toBe('');
    expect(new StreamRewriter({ kind: 'chat', wantsUsage: true }).rewrite(data({ choices: [], usage: { completion_tokens: 1 } }))).toMatch(/completion_tokens/);
    rewriter.rewrite(delta(undefined, 'tool_calls'));
    expect(rewriter).toMatchObject({ sawFinish: true, lostCall: true });
  });
});
