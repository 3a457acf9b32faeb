import { describe, expect, it } from 'vitest';
import { describePoison, PoisonList } from '../../../src/journal/poison.js';
import { SerialLane } from '../../../src/journal/serial-lane.js';
import { manualClock } from '../../support/clock.js';

describe('the poison list', () => {
  it('a request in flight at two losses of the same cause is poison; a different cause or a blameless one is not', () => {
    const list = new PoisonList({ ttlMs: 600_000, maxEntries: 10 });
    const [first, second, third, fourth] = [{}, {}, {}, {}];
    expect(list.noteLoss('a', 'metal_abort', 10, first, true)).toBe('suspect');
    // The same content twice in flight at one loss counts once.
    expect(list.noteLoss('a', 'metal_abort', 10, first, true)).toBe('suspect');
    expect(list.noteLoss('a', 'frozen', 10, second, true)).toBe('suspect');
    expect(list.noteLoss('a', 'manual', 10, third, true)).toBe('innocent');
    expect(list.noteLoss('a', 'breaker_open', 10, third, true)).toBe('innocent');
    expect(list.find('a')).toBeUndefined();
    expect(list.noteLoss('a', 'metal_abort', 10, fourth, true)).toBe('poison');
    expect(list.noteLoss('a', 'metal_abort', 10, fourth, true)).toBe('poison');
    expect(list.find('a')).toMatchObject({ kind: 'crashes', cause: 'metal_abort', bodyBytes: 10 });
    expect(list.noteLoss('b', 'metal_abort', 10, fourth, true)).toBe('suspect');
  });

  it('a request that shared the server when it died is never convicted by that loss, however often: only a loss while it ran alone names it', () => {
    const list = new PoisonList({ ttlMs: 600_000, maxEntries: 10 });
    // The victim: in flight beside an attacker at every crash.
    for (let crash = 0; crash < 5; crash++) expect(list.noteLoss('victim', 'metal_abort', 10, {}, false)).toBe('suspect');
    expect(list.find('victim')).toBeUndefined();
    // The attacker: once beside the victim, then replayed alone and crashing it again.
    expect(list.noteLoss('attacker', 'metal_abort', 10, {}, false)).toBe('suspect');
    expect(list.noteLoss('attacker', 'metal_abort', 10, {}, true)).toBe('poison');
  });

  it('a request that failed twice on its own is poison; poison lasts ttlMs', () => {
    const clock = manualClock();
    const list = new PoisonList({ ttlMs: 1_000, maxEntries: 10 }, clock.now);
    expect(list.noteFailure('x', 'ERR_UPSTREAM_CONNECTION', 5)).toBe('suspect');
    expect(list.noteFailure('x', 'ERR_UPSTREAM_CONNECTION', 5)).toBe('poison');
    clock.advance(999);
    expect(list.entries).toHaveLength(1);
    clock.advance(1);
    expect(list.find('x')).toBeUndefined();
    expect(list.entries).toEqual([]);
  });

  it('remembers at most maxEntries, forgetting the oldest', () => {
    const list = new PoisonList({ ttlMs: 60_000, maxEntries: 2 });
    for (const digest of ['p', 'q', 'r']) {
      list.noteFailure(digest, 'e', 1);
      list.noteFailure(digest, 'e', 1);
    }
    expect(list.entries.map((e) => e.digest)).toEqual(['q', 'r']);
  });

  it('tells the client what happened and what to change', () => {
    const list = new PoisonList({ ttlMs: 600_000, maxEntries: 10 });
    list.noteLoss('a', 'metal_abort', 1, {}, true);
    list.noteLoss('a', 'metal_abort', 1, {}, true);
    expect(describePoison(list.find('a')!)).toBe(
      'this request was being served when the model server ran out of GPU memory twice; mlx-guard will not send it again for 10 min. To get an answer, shorten the context or lower max_tokens and send the changed request.',
    );
    expect(PoisonList.digest('{"a":1}')).toBe(PoisonList.digest('{"a":1}'));
    expect(PoisonList.digest('{"a":1}')).not.toBe(PoisonList.digest('{"a":2}'));
  });
});

describe('the serial lane', () => {
  it('lets one holder in at a time, in arrival order; a waiter that gives up leaves the line', async () => {
    const lane = new SerialLane();
    const order: string[] = [];
    const leaveA = await lane.enter(new AbortController().signal);
    const quitter = new AbortController();
    const b = lane.enter(new AbortController().signal).then((leave) => (order.push('b'), leave));
    const c = lane.enter(quitter.signal).then(
      () => order.push('c'),
      () => order.push('c gave up'),
    );
    const d = lane.enter(new AbortController().signal).then((leave) => (order.push('d'), leave));
    quitter.abort();
    await c;
    expect(lane.waiting).toBe(2);
    leaveA();
    leaveA(); // a second call lets nobody else in
    (await b)();
    (await d)();
    expect(order).toEqual(['c gave up', 'b', 'd']);
    expect(lane.waiting).toBe(0);
  });
});
