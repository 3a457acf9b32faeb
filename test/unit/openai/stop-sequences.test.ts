import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { filterEvent, StopSequenceFilter } from '../../../src/openai/index.js';

describe('stop sequences applied by mlx-guard', () => {
  it('releases text as soon as it cannot start a sequence; cuts at the first match, across chunks, and names it', () => {
    const filter = new StopSequenceFilter(['END', '\n\nHuman:']);
    expect(filter.push('Hello E')).toBe('Hello ');
    expect(filter.push('N')).toBe('');
    expect(filter.push('ough\n\nHum')).toBe('ENough');
    expect(filter.push('an: more')).toBe('');
    expect(filter.matched).toBe('\n\nHuman:');
    expect(filter.push('anything')).toBe('');
  });

  it('for any text and any chunking: the output is the text up to the first match (all of it without one)', () => {
    const stops = ['ab', 'bca', 'zz'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', 'c', 'z', 'x', ' '), { maxLength: 60 }), fc.array(fc.nat(), { maxLength: 10 }), (letters, cuts) => {
        const text = letters.join('');
        const filter = new StopSequenceFilter(stops);
        const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        let out = '';
        let last = 0;
        for (const point of [...points, text.length]) {
          out += filter.push(text.slice(last, point));
          last = point;
        }
        if (filter.matched === undefined) out += filter.flush();
        const first = Math.min(...stops.map((s) => text.indexOf(s)).filter((i) => i >= 0));
        expect(out).toBe(Number.isFinite(first) ? text.slice(0, first) : text);
      }),
      { numRuns: 500 },
    );
  });

  it('on an event: the choice ends with finish_reason "stop" and the matched sequence', () => {
    const filter = new StopSequenceFilter(['STOP']);
    const event = (content: string, finish: string | null = null) => ({ type: 'data' as const, data: JSON.stringify({ choices: [{ index: 0, delta: { content }, finish_reason: finish }] }) });
    const first = filterEvent(event('one ST'), 'chat', filter);
    expect(first.stopped).toBe(false);
    expect(JSON.parse((first.event as { data: string }).data).choices[0].delta.content).toBe('one ');
    const second = filterEvent(event('OP two'), 'chat', filter);
    expect(second.stopped).toBe(true);
    expect(JSON.parse((second.event as { data: string }).data).choices[0]).toMatchObject({ delta: { content: '' }, finish_reason: 'stop', stop_sequence: 'STOP' });
    const held = new StopSequenceFilter(['STOP']);
    filterEvent(event('end S'), 'chat', held);
    expect(JSON.parse((filterEvent(event('', 'stop'), 'chat', held).event as { data: string }).data).choices[0].delta.content).toBe('S');
  });
});
