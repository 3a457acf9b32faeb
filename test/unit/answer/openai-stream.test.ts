import { describe, expect, it } from 'vitest';
import { AnswerMerge, AnswerStream, OpenAiStreamFraming, type AnswerEvent } from '../../../src/answer/index.js';
import type { ParsedContent, StreamChunk } from '../../../src/openai/index.js';
import { parserRegistry } from '../../../src/tools/index.js';

describe('an answer streamed as OpenAI chunks (merge, then frame)', () => {
  const data = (chunk: StreamChunk): AnswerEvent => ({ type: 'chunk', chunk });
  const delta = (content: string | undefined, finish: string | null = null) => data({ model: 'upstream', choices: [{ index: 0, delta: content === undefined ? {} : { content }, finish_reason: finish }] });
  const sent = (text: string) => JSON.parse(text.slice('data: '.length)) as { model: string; choices: Array<{ delta: Record<string, unknown>; finish_reason: string | null }> };
  const tools = [{ type: 'function' as const, function: { name: 'f' } }];
  const openAi = (options: { model?: string; wantsUsage: boolean }) => new AnswerStream(new OpenAiStreamFraming({ kind: 'chat', ...options }));

  /** What the pipeline does with a chunk when tools are declared: parse its content, end parsing with the finishing chunk. */
  function parseAndFinish(answer: AnswerStream, events: AnswerEvent[]): string[] {
    const parser = parserRegistry.createStreamParser({ tools });
    return events
      .map((event) => {
        if (event.type !== 'chunk') return answer.event(event);
        const content = AnswerMerge.content(event.chunk);
        let parsed: ParsedContent | undefined = content === undefined ? undefined : parser.push(content);
        if (AnswerMerge.finishes(event.chunk)) {
          const last = parser.end();
          parsed = { content: (parsed?.content ?? '') + last.content, calls: [...(parsed?.calls ?? []), ...last.calls] };
        }
        return answer.event(event, parsed);
      })
      .filter(Boolean);
  }

  it('with parsed content: a tool call goes out whole with a new id, numbered, and the finish says tool_calls', () => {
    const answer = openAi({ model: 'mine', wantsUsage: false });
    const chunks = parseAndFinish(answer, [delta('Sure. <tool_'), delta('call>{"name": "f", "arguments": {"a": 1}}</tool_call>'), delta(undefined, 'stop')]).map(sent);
    expect(chunks.every((chunk) => chunk.model === 'mine')).toBe(true);
    expect(chunks.map((chunk) => chunk.choices[0]!.delta.content ?? '').join('').trim()).toBe('Sure.');
    const calls = chunks.flatMap((chunk) => (chunk.choices[0]!.delta.tool_calls as Array<{ id: string; index: number; function: { arguments: string } }> | undefined) ?? []);
    expect(calls).toMatchObject([{ index: 0, type: 'function', function: { name: 'f', arguments: '{"a":1}' } }]);
    expect(calls[0]!.id).toMatch(/^[A-Za-z0-9]{9}$/);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('tool_calls');
    expect(answer.merge).toMatchObject({ sawFinish: true, lostCall: false });
  });

  it('without parsing the markup passes through; a usage chunk only when asked; a tool_calls finish with no call is noticed', () => {
    const answer = openAi({ wantsUsage: false });
    expect(sent(answer.event(delta('<tool_call>{"name": "f"}</tool_call>'))).choices[0]!.delta.content).toBe('<tool_call>{"name": "f"}</tool_call>');
    expect(answer.event(data({ choices: [], usage: { completion_tokens: 1 } }))).toBe('');
    expect(openAi({ wantsUsage: true }).event(data({ choices: [], usage: { completion_tokens: 1 } }))).toMatch(/completion_tokens/);
    answer.event(delta(undefined, 'tool_calls'));
    expect(answer.merge).toMatchObject({ sawFinish: true, lostCall: true, completionTokens: 1 });
  });

  it('the server\'s own tool calls are normalised and numbered before the parsed ones', () => {
    const answer = openAi({ wantsUsage: false });
    const chunk = data({ choices: [{ index: 0, delta: { tool_calls: [{ id: 'x', function: { name: 'g', arguments: { b: 2 } } }], content: 'raw' }, finish_reason: null }] });
    const out = sent(answer.event(chunk, { content: '', calls: [{ id: 'call_1', name: 'f', arguments: {} }] }));
    expect(out.choices[0]!.delta).toMatchObject({ tool_calls: [{ index: 0, type: 'function', function: { name: 'g', arguments: '{"b":2}' } }, { index: 1, id: 'call_1', function: { name: 'f', arguments: '{}' } }] });
    expect(out.choices[0]!.delta.content).toBeUndefined();
  });

  it('comments and [DONE] pass as they are; only data counts as content (a stream of keepalives can still be replayed)', () => {
    const answer = openAi({ wantsUsage: false });
    expect(answer.event({ type: 'comment', text: 'keepalive 10/100' })).toBe(': keepalive 10/100\n\n');
    expect(answer.framing.hasContent).toBe(false);
    expect(answer.event({ type: 'done' })).toBe('data: [DONE]\n\n');
    expect(answer.framing.hasContent).toBe(true);
  });

  it('a text completion\'s finish is seen too', () => {
    const answer = new AnswerStream(new OpenAiStreamFraming({ kind: 'text', wantsUsage: false }));
    expect(sent(answer.event(data({ choices: [{ index: 0, text: 'hi', finish_reason: 'length' }] }))).choices[0]).toMatchObject({ text: 'hi' });
    expect(answer.merge.sawFinish).toBe(true);
  });
});
