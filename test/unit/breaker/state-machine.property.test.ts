// Property: for random sequences of successes, failures, ignored outcomes, time steps and
// concurrent calls held in flight, the breaker agrees with a small reference model of its state
// machine (consecutive policy, half-open probes, hung-probe guard) on state, counters and refusals.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CircuitBreaker, CircuitBreakerError } from '../../../src/index.js';
import { manualClock } from '../../support/clock.js';
import { deferred, type Deferred } from '../../support/deferred.js';

type Outcome = 'success' | 'failure' | 'ignored';
type Action =
  | { kind: 'sync'; outcome: Outcome }
  | { kind: 'start' }
  | { kind: 'settle'; pick: number; outcome: Outcome }
  | { kind: 'advance'; ms: number };

interface Config {
  failureThreshold: number;
  recoveryTimeout: number;
  halfOpenSuccessThreshold: number;
  halfOpenMaxProbes: number;
  halfOpenMaxWaitMs: number;
}

/** The reference: the breaker's contract written as plainly as possible. */
class Model {
  state: 'closed' | 'open' | 'half_open' = 'closed';
  generation = 0;
  consecutiveFailures = 0;
  openUntil = 0;
  probes = 0;
  probeSuccesses = 0;
  probeProgressAt = 0;
  counts = { totalCalls: 0, successes: 0, failures: 0, ignored: 0, rejections: 0 };

  constructor(readonly config: Config) {}

  refresh(now: number): void {
    if (this.state === 'open' && now >= this.openUntil) this.#enter('half_open');
    else if (this.state === 'half_open' && this.probes > 0 && now - this.probeProgressAt >= this.config.halfOpenMaxWaitMs) this.#open(now);
  }

  /** The generation the call runs in, or null when refused. */
  admit(now: number): number | null {
    this.counts.totalCalls++;
    this.refresh(now);
    if (this.state === 'closed') return this.generation;
    if (this.state === 'half_open' && this.probes < this.config.halfOpenMaxProbes) {
      if (this.probes++ === 0) this.probeProgressAt = now;
      return this.generation;
    }
    this.counts.rejections++;
    return null;
  }

  settle(generation: number, outcome: Outcome, now: number): void {
    this.counts[outcome === 'success' ? 'successes' : outcome === 'failure' ? 'failures' : 'ignored']++;
    if (generation !== this.generation) return;
    if (this.state === 'closed') {
      if (outcome === 'success') this.consecutiveFailures = 0;
      else if (outcome === 'failure' && ++this.consecutiveFailures >= this.config.failureThreshold) this.#open(now);
    } else if (this.state === 'half_open') {
      this.probes--;
      this.probeProgressAt = now;
      if (outcome === 'failure') this.#open(now);
      else if (outcome === 'success' && ++this.probeSuccesses >= this.config.halfOpenSuccessThreshold) {
        this.consecutiveFailures = 0;
        this.#enter('closed');
      }
    }
  }

  #open(now: number): void {
    this.openUntil = now + this.config.recoveryTimeout;
    this.#enter('open');
  }

  #enter(state: Model['state']): void {
    this.state = state;
    this.generation++;
    this.probes = 0;
    this.probeSuccesses = 0;
  }
}

const outcome = fc.constantFrom<Outcome>('success', 'failure', 'ignored');
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: outcome.map((o) => ({ kind: 'sync' as const, outcome: o })) },
  { weight: 2, arbitrary: fc.constant({ kind: 'start' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('settle' as const), pick: fc.nat(), outcome }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 1_500 }).map((ms) => ({ kind: 'advance' as const, ms })) },
);
const config: fc.Arbitrary<Config> = fc.record({
  failureThreshold: fc.integer({ min: 1, max: 4 }),
  recoveryTimeout: fc.integer({ min: 0, max: 2_000 }),
  halfOpenSuccessThreshold: fc.integer({ min: 1, max: 3 }),
  halfOpenMaxProbes: fc.integer({ min: 1, max: 3 }),
  halfOpenMaxWaitMs: fc.oneof(fc.integer({ min: 0, max: 3_000 }), fc.constant(Number.POSITIVE_INFINITY)),
});

function makeError(kind: Outcome): Error {
  const error = new Error(kind);
  if (kind === 'ignored') error.name = 'AbortError';
  return error;
}

describe('the breaker against a reference model of its state machine', () => {
  it('agrees on state, counters and refusals after every step', async () => {
    await fc.assert(
      fc.asyncProperty(config, fc.array(action, { minLength: 20, maxLength: 150 }), async (cfg, actions) => {
        const clock = manualClock(0);
        const breaker = new CircuitBreaker({ ...cfg, clock: clock.now });
        const model = new Model(cfg);
        const inFlight: Array<{ gate: Deferred<string>; generation: number; done: Promise<unknown> }> = [];

        for (const step of actions) {
          const now = clock.now();
          if (step.kind === 'advance') {
            clock.advance(step.ms);
          } else if (step.kind === 'sync') {
            const generation = model.admit(now);
            let refused = false;
            try {
              breaker.call(() => {
                if (step.outcome !== 'success') throw makeError(step.outcome);
                return 'ok';
              });
            } catch (error) {
              refused = error instanceof CircuitBreakerError;
            }
            expect(refused).toBe(generation === null);
            if (generation !== null) model.settle(generation, step.outcome, now);
          } else if (step.kind === 'start') {
            const generation = model.admit(now);
            const gate = deferred<string>();
            let refused = false;
            try {
              const done = breaker.call(() => gate.promise).catch(() => undefined);
              if (generation !== null) inFlight.push({ gate, generation, done });
            } catch (error) {
              refused = error instanceof CircuitBreakerError;
            }
            expect(refused).toBe(generation === null);
          } else if (inFlight.length > 0) {
            const [call] = inFlight.splice(step.pick % inFlight.length, 1);
            if (step.outcome === 'success') call!.gate.resolve('ok');
            else call!.gate.reject(makeError(step.outcome));
            await call!.done;
            model.settle(call!.generation, step.outcome, now);
          }
          model.refresh(clock.now());
          expect(breaker.getState()).toBe(model.state);
          expect(breaker.getMetrics()).toMatchObject(model.counts);
        }
      }),
      { numRuns: 1_000 },
    );
  });
});
