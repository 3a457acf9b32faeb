import { describe, expect, it } from 'vitest';
import { Traffic } from '../../../src/observability/traffic.js';
import { manualClock } from '../../support/clock.js';

describe('traffic per second', () => {
  it('counts requests by status class, latency percentiles and tokens per second; empty seconds stay in the series', () => {
    const clock = manualClock(1_000_000);
    const traffic = new Traffic(clock.now);
    for (const ms of [10, 20, 30, 40, 1000]) traffic.request(200, ms);
    traffic.request(404, 5);
    traffic.request(503, 1);
    traffic.tokens(42);
    clock.advance(2_000);
    traffic.request(200, 7);
    const recent = traffic.recent(3);
    expect(recent.map((s) => s.at)).toEqual([1000, 1001, 1002]);
    expect(recent[0]).toEqual({ at: 1000, ok: 5, clientErrors: 1, serverErrors: 1, tokens: 42, p50: 20, p95: 1000 });
    expect(recent[1]).toEqual({ at: 1001, ok: 0, clientErrors: 0, serverErrors: 0, tokens: 0 });
    expect(recent[2]).toMatchObject({ ok: 1, p50: 7, p95: 7 });
  });

  it('is bounded: old seconds go, and each second keeps at most so many latencies', () => {
    const clock = manualClock(0);
    const traffic = new Traffic(clock.now, 10, 4);
    for (let i = 0; i < 100; i++) traffic.request(200, i);
    expect(traffic.recent(1)[0]).toMatchObject({ ok: 100, p95: 3 });
    clock.advance(20_000);
    traffic.request(200, 1);
    expect(traffic.recent(30).filter((s) => s.ok > 0)).toHaveLength(1);
  });
});
