import { describe, expect, it } from 'vitest';
import { judgeLiveness, type Observations } from '../../../src/supervisor/liveness.js';
import { resolveSupervisorOptions } from '../../../src/supervisor/options.js';

const options = resolveSupervisorOptions({}).liveness;
const now = 1_000_000;
const beat = (overrides = {}) => ({ at: now - 500, busy: 0, stalledMs: 0, instrumented: true, genAlive: true, fired: {}, ...overrides });
const seen = (overrides: Partial<Observations> = {}): Observations => ({ since: now - 600_000, heartbeat: beat(), inflight: 0, lastProgressAt: now - 600_000, probeFailures: 0, ...overrides });

describe('the liveness verdict (defaults: heartbeat 4 s, stall 60 s)', () => {
  it('in the host: silence, a dead generation thread and a step that never ends are deaths; anything else is alive', () => {
    expect(judgeLiveness(seen(), now, options, true)).toEqual({ kind: 'alive' });
    expect(judgeLiveness(seen({ heartbeat: beat({ at: now - 3_999 }) }), now, options, true).kind).toBe('alive');
    expect(judgeLiveness(seen({ heartbeat: beat({ at: now - 4_000 }) }), now, options, true)).toMatchObject({ kind: 'dead', cause: 'frozen' });
    expect(judgeLiveness(seen({ heartbeat: undefined, since: now - 4_000 }), now, options, true)).toMatchObject({ kind: 'dead', cause: 'frozen' });
    expect(judgeLiveness(seen({ heartbeat: beat({ genAlive: false }) }), now, options, true)).toMatchObject({ kind: 'dead', cause: 'zombie' });
    expect(judgeLiveness(seen({ heartbeat: beat({ busy: 2, stalledMs: 60_000 }) }), now, options, true)).toEqual({
      kind: 'dead',
      cause: 'wedged',
      detail: 'busy with 2 request(s) and no generation step for 60 s',
    });
  });

  it('never punishes length: a long answer or prefill that keeps stepping, an idle server, a long silence while idle', () => {
    // Ten minutes into an answer, stepping all the while.
    expect(judgeLiveness(seen({ heartbeat: beat({ busy: 1, stalledMs: 900 }), inflight: 1, lastProgressAt: now - 900 }), now, options, true).kind).toBe('alive');
    // One prefill chunk of 59 s.
    expect(judgeLiveness(seen({ heartbeat: beat({ busy: 1, stalledMs: 59_000 }), inflight: 1, lastProgressAt: now - 59_000 }), now, options, true).kind).toBe('alive');
    // Idle for a day: nothing to judge but the heartbeat.
    expect(judgeLiveness(seen({ lastProgressAt: now - 86_400_000 }), now, options, true).kind).toBe('alive');
  });

  it('a server that cannot report steps falls back on request progress: a suspicion, for a canary to decide', () => {
    const uninstrumented = beat({ busy: 1, instrumented: false, stalledMs: 0 });
    expect(judgeLiveness(seen({ heartbeat: uninstrumented, inflight: 1, lastProgressAt: now - 59_999 }), now, options, true).kind).toBe('alive');
    expect(judgeLiveness(seen({ heartbeat: uninstrumented, inflight: 1, lastProgressAt: now - 60_000 }), now, options, true)).toEqual({
      kind: 'suspect',
      detail: '1 request(s) made no progress for 60 s',
    });
  });

  it('steps without progress on any request (a livelock) raise the same suspicion', () => {
    expect(judgeLiveness(seen({ heartbeat: beat({ busy: 1, stalledMs: 10 }), inflight: 1, lastProgressAt: now - 60_000 }), now, options, true).kind).toBe('suspect');
  });

  it('outside the host: /health unanswered twice is frozen, unless a request made progress meanwhile (a serial server)', () => {
    const outside = { heartbeat: undefined };
    expect(judgeLiveness(seen({ ...outside, probeFailures: 1 }), now, options, false).kind).toBe('alive');
    expect(judgeLiveness(seen({ ...outside, probeFailures: 2 }), now, options, false)).toMatchObject({ kind: 'dead', cause: 'frozen' });
    // The detail says how the last probe failed: a 500 is an answer, not silence.
    expect(judgeLiveness(seen({ ...outside, probeFailures: 2, lastProbeFailure: 'HTTP 500' }), now, options, false)).toMatchObject({ detail: '/health failed 2 times in a row (last: HTTP 500) and no request made progress' });
    expect(judgeLiveness(seen({ ...outside, probeFailures: 5, inflight: 1, lastProgressAt: now - 200 }), now, options, false).kind).toBe('alive');
    expect(judgeLiveness(seen({ ...outside, inflight: 1, lastProgressAt: now - 60_000 }), now, options, false).kind).toBe('suspect');
  });
});
