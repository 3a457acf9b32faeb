// Ollama's stream checked line by line against the shapes its API documents: each line one JSON
// object ending in a newline; pieces with `done: false`; the last with `done: true`, `done_reason`,
// the token counts, and the times as whole nanoseconds.
import { describe, expect, it } from 'vitest';
import { AnswerStream, OllamaStreamFraming, OllamaWholeFraming } from '../../../src/answer/index.js';

const chunk = (delta: Record<string, unknown>, finish: string | null = null, usage?: Record<string, number>) => ({
  type: 'chunk' as const,
  chunk: { id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}) },
});

const lines = (text: string) => {
  expect(text.endsWith('\n')).toBe(true);
  return text.slice(0, -1).split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
};

const DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('Ollama framing', () => {
  it('streams a chat as NDJSON: a line per piece, the last with the counts and nanosecond times', () => {
    const framing = new OllamaStreamFraming('chat', 'qwen3:8b');
    expect(framing.contentType).toBe('application/x-ndjson');
    const answer = new AnswerStream(framing);
    let out = framing.begin();
    out += answer.event({ type: 'comment', text: 'keepalive 10/200' });
    expect(framing.hasContent).toBe(false);
    out += answer.event(chunk({ role: 'assistant', reasoning: 'hm' }));
    out += answer.event(chunk({ content: 'Hel' }));
    out += answer.event(chunk({ content: 'lo' }));
    out += answer.event(chunk({}, 'stop'));
    out += answer.event({ type: 'chunk', chunk: { id: 'c', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 } } });
    out += answer.event({ type: 'done' });
    out += framing.end();
    const all = lines(out);
    for (const line of all) {
      expect(line).toMatchObject({ model: 'qwen3:8b', message: { role: 'assistant' } });
      expect(line.created_at).toMatch(DATE);
    }
    expect(all.map((line) => (line.message as { content: string }).content)).toEqual(['', '', 'Hel', 'lo', '']);
    expect(all[0]).toEqual({ model: 'qwen3:8b', created_at: all[0]!.created_at, message: { role: 'assistant', content: '' }, done: false });
    expect(all[1]!.message).toEqual({ role: 'assistant', content: '', thinking: 'hm' });
    expect(all.slice(0, -1).every((line) => line.done === false)).toBe(true);
    const last = all.at(-1)!;
    expect(last).toMatchObject({ done: true, done_reason: 'stop', prompt_eval_count: 12, eval_count: 3, load_duration: 0 });
    for (const field of ['total_duration', 'prompt_eval_duration', 'eval_duration']) {
      expect(Number.isInteger(last[field]), field).toBe(true);
      expect(last[field] as number, field).toBeGreaterThanOrEqual(0);
    }
    expect(last.total_duration).toBe((last.prompt_eval_duration as number) + (last.eval_duration as number));
    expect(framing.hasContent).toBe(true);
  });

  it('gives a tool call whole, its arguments as an object; a cut answer ends "length"; an error is a line of its own', () => {
    const framing = new OllamaStreamFraming('chat', 'm');
    const answer = new AnswerStream(framing);
    const out = answer.event(chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] }, 'tool_calls'));
    expect(lines(out)[0]!.message).toEqual({ role: 'assistant', content: '', tool_calls: [{ id: 'call_1', function: { index: 0, name: 'get_weather', arguments: { city: 'Oslo' } } }] });
    expect(lines(framing.end())[0]).toMatchObject({ done: true, done_reason: 'stop' });

    const cut = new OllamaStreamFraming('chat', 'm');
    new AnswerStream(cut).event(chunk({ content: 'a' }, 'length'));
    expect(lines(cut.end())[0]).toMatchObject({ done: true, done_reason: 'length', eval_count: 1 });
    expect(lines(cut.error('upstream_error', 'the model server failed'))).toEqual([{ error: 'the model server failed' }]);
  });

  it('streams a generate as `response` lines, from chat deltas or a text completion’s text', () => {
    const framing = new OllamaStreamFraming('generate', 'm');
    const answer = new AnswerStream(framing);
    const out = answer.event(chunk({ content: 'Blue' })) + answer.event({ type: 'chunk', chunk: { id: 't', object: 'text_completion', choices: [{ index: 0, text: ' sky', finish_reason: null }] } }) + framing.end();
    const all = lines(out);
    expect(all.map((line) => line.response)).toEqual(['Blue', ' sky', '']);
    expect(all[0]).not.toHaveProperty('message');
    expect(all.at(-1)).toMatchObject({ done: true, done_reason: 'stop', eval_count: 2 });
  });

  it('frames a whole answer as one object with the last line’s fields', () => {
    const completion = {
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hi', reasoning: 'r', tool_calls: [{ id: 'call_2', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] }, finish_reason: 'tool_calls' }],
      usage: { prompt_tokens: 5, completion_tokens: 9 },
    };
    const body = new OllamaWholeFraming('chat', 'm').body(completion);
    expect(body).toMatchObject({
      model: 'm',
      message: { role: 'assistant', content: 'Hi', thinking: 'r', tool_calls: [{ id: 'call_2', function: { index: 0, name: 'f', arguments: { a: 1 } } }] },
      done: true,
      done_reason: 'stop',
      prompt_eval_count: 5,
      eval_count: 9,
    });
    expect(new OllamaWholeFraming('generate', 'm').body({ choices: [{ index: 0, text: 'raw text', finish_reason: 'length' }], usage: {} })).toMatchObject({ response: 'raw text', done: true, done_reason: 'length' });
  });
});
