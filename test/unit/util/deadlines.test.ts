import { describe, expect, it } from 'vitest';
import { aborted, unlessAborted, within } from '../../../src/util/deadlines.js';

describe('deadline helpers', () => {
  it('within: the value when it comes first, the fallback once the time is up; no timer is left behind', async () => {
    expect(await within(Promise.resolve('value'), 10_000, 'late')).toBe('value');
    expect(await within(new Promise(() => {}), 5, 'late')).toBe('late');
    const handles = () => (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = handles();
    await within(Promise.resolve(1), 600_000, 0);
    expect(handles()).toBe(before);
  });

  it('within(fn): the started promise hears when the race is over, so it can drop its listeners', async () => {
    const source = new AbortController();
    let over: AbortSignal | undefined;
    expect(await within((raceOver) => ((over = raceOver), aborted(source.signal, raceOver)), 5, 'late')).toBe('late');
    expect(over?.aborted).toBe(true);
    source.abort();
    expect(await within((raceOver) => aborted(source.signal, raceOver), 10_000, 'late')).toBeUndefined();
  });

  it('unlessAborted: rejects with the reason as soon as the signal aborts', async () => {
    const controller = new AbortController();
    const waiting = unlessAborted(new Promise(() => {}), controller.signal);
    controller.abort(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    await expect(unlessAborted(Promise.resolve(1), new AbortController().signal)).resolves.toBe(1);
  });
});
