import { describe, expect, it } from 'vitest';
import { resolveSupervisorOptions } from '../../../src/supervisor/options.js';
import { RestartPolicy } from '../../../src/supervisor/restart-policy.js';
import { manualClock } from '../../support/clock.js';

const restartOptions = (overrides = {}) => resolveSupervisorOptions({ restart: { jitter: 0, ...overrides } }).restart;

describe('restart policy', () => {
  it('the first restart in a row is immediate; then the backoff starts at 1 s and doubles up to 5 min (the defaults)', () => {
    const clock = manualClock();
    const policy = new RestartPolicy(restartOptions({ maxRestarts: 100, windowMs: 1 }), clock.now);
    const delays: number[] = [];
    for (let i = 0; i < 11; i++) {
      const decision = policy.next();
      if ('exhausted' in decision) throw new Error('budget unexpectedly exhausted');
      delays.push(decision.relaunchInMs);
      clock.advance(10);
    }
    expect(delays).toEqual([0, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000]);
  });

  it('jitter takes a random share of each delay away, within [1 − jitter, 1] of it (the one meaning, shared with the breaker)', () => {
    for (const [random, expected] of [
      [0, 1_000],
      [0.5, 900],
      [0.999_999, 800],
    ] as const) {
      const policy = new RestartPolicy(restartOptions({ jitter: 0.2 }), Date.now, () => random);
      expect(policy.next()).toMatchObject({ relaunchInMs: 0 });
      expect(policy.next()).toMatchObject({ relaunchInMs: expected });
    }
  });

  it('more than maxRestarts within the window exhausts the budget; older restarts age out', () => {
    const clock = manualClock();
    const policy = new RestartPolicy(restartOptions({ maxRestarts: 5, windowMs: 900_000 }), clock.now);
    for (let i = 0; i < 5; i++) {
      expect(policy.next()).toHaveProperty('relaunchInMs');
      clock.advance(60_000);
    }
    expect(policy.next()).toEqual({ exhausted: true, restartsInWindow: 5 });
    clock.advance(900_000 - 4 * 60_000); // the first restart is now 15 min old
    expect(policy.next()).toHaveProperty('relaunchInMs');
  });

  it('ready for stableAfterMs wipes the backoff and the budget; a shorter ready does not', () => {
    const clock = manualClock();
    const policy = new RestartPolicy(restartOptions({ stableAfterMs: 600_000 }), clock.now);
    policy.next();
    policy.next();
    policy.noteReady();
    clock.advance(599_999);
    expect(policy.next()).toMatchObject({ relaunchInMs: 2_000, attempt: 3 });
    policy.noteReady();
    clock.advance(600_000);
    expect(policy.next()).toMatchObject({ relaunchInMs: 0, attempt: 1 });
  });
  it('a refunded restart (one a poison request caused) gives back its place in the budget and its backoff step', () => {
    const clock = manualClock();
    const policy = new RestartPolicy(restartOptions({ maxRestarts: 2, windowMs: 60_000 }), clock.now);
    expect(policy.next()).toEqual({ relaunchInMs: 0, attempt: 1 });
    policy.refund();
    // The same as if it had never happened: immediate again, and the budget whole.
    expect(policy.next()).toEqual({ relaunchInMs: 0, attempt: 1 });
    expect(policy.next()).toEqual({ relaunchInMs: 1_000, attempt: 2 });
    expect(policy.next()).toEqual({ exhausted: true, restartsInWindow: 2 });
    policy.refund();
    expect(policy.next()).toEqual({ relaunchInMs: 1_000, attempt: 2 });
  });
});
