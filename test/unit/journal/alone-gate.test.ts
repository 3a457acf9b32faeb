import { describe, expect, it, vi } from 'vitest';
import { AloneGate } from '../../../src/journal/index.js';

describe('the alone gate', () => {
  it('lets attempts through at once while nobody holds it; holds them until the holder leaves; releasing twice does nothing', async () => {
    const gate = new AloneGate();
    const signal = new AbortController().signal;
    await gate.whenClear(signal, 10_000);
    const release = gate.hold();
    let through = false;
    const waiting = gate.whenClear(signal, 10_000).then(() => (through = true));
    await Promise.resolve();
    expect(through).toBe(false);
    release();
    release();
    await waiting;
    expect(gate.held).toBe(false);
  });

  it('a waiter goes on after maxWaitMs, or as soon as its signal aborts', async () => {
    vi.useFakeTimers();
    try {
      const gate = new AloneGate();
      gate.hold();
      let timedOut = false;
      const bounded = gate.whenClear(new AbortController().signal, 10_000).then(() => (timedOut = true));
      await vi.advanceTimersByTimeAsync(9_999);
      expect(timedOut).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      await bounded;
      const gone = new AbortController();
      const aborted = gate.whenClear(gone.signal, 10_000);
      gone.abort();
      await aborted;
      expect(gate.held).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});
