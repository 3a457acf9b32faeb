// Per-call cost of the circuit breaker against bare calls, cockatiel and opossum, in one run.
//
//   npm run bench          full run (~1 min): table + verdict against the design's budgets
//   npm run bench:check    short run of our modes only; exits 1 if any costs >= 1 µs per call over
//                          its floor (measured in the same run), or a refusal by throw costs more
//                          than 100 ns over a bare throw
//
// Each sample times a batch of BATCH calls and records the mean per call (tinybench's
// overriddenDuration), so the timer's own cost (performance.now() takes tens of nanoseconds a
// call on Node 20) does not swamp sub-100 ns figures. Verdicts use the median of those batch means.
import { circuitBreaker, ConsecutiveBreaker, handleAll } from 'cockatiel';
import Opossum from 'opossum';
import { cpus } from 'node:os';
import { Bench, type FnReturnedObject } from 'tinybench';
import { CircuitBreaker } from '../src/breaker/index.js';

const check = process.argv.includes('--check');
const BATCH = 1_000;
const TIME_MS = check ? 150 : 1_000;
const HARD_LIMIT_NS = 1_000;

let sink = 0;
let input = 0;
const syncFn = (x: number) => x + 1;
const asyncFn = async (x: number) => x + 1;
const swallow = () => {};
const thrown = new Error('preallocated');
const throwIt = (): never => {
  throw thrown;
};

const ours = new CircuitBreaker({ name: 'bench', recoveryTimeout: 1e12 });
const oursTimeWindow = new CircuitBreaker({ name: 'bench-time', tripPolicy: { type: 'time', windowMs: 10_000, minimumCalls: 20 } });
const oursOpen = new CircuitBreaker({ name: 'bench-open', failureThreshold: 1, recoveryTimeout: 1e12 });
try {
  oursOpen.call(() => {
    throw new Error('trip');
  });
} catch {
  // tripped on purpose
}

interface Case {
  name: string;
  ours: boolean;
  /** Runs BATCH calls. */
  batch: () => void | Promise<void>;
}

const sync = (name: string, isOurs: boolean, one: () => void): Case => ({
  name,
  ours: isOurs,
  batch: () => {
    for (let i = 0; i < BATCH; i++) one();
  },
});
const async = (name: string, isOurs: boolean, one: () => Promise<void>): Case => ({
  name,
  ours: isOurs,
  batch: async () => {
    for (let i = 0; i < BATCH; i++) await one();
  },
});

const cases: Case[] = [
  sync('bare sync f()', false, () => {
    sink += syncFn(input++);
  }),
  sync('ours: call(syncFn)', true, () => {
    sink += ours.call(syncFn, input++);
  }),
  sync('ours: call(syncFn), time-window policy', true, () => {
    sink += oursTimeWindow.call(syncFn, input++);
  }),
  sync('ours: tryAcquire() + success()', true, () => {
    const permit = ours.tryAcquire();
    sink += syncFn(input++);
    permit?.success();
  }),
  async('bare async await f()', false, async () => {
    sink += await asyncFn(input++);
  }),
  async('ours: await call(asyncFn)', true, async () => {
    sink += await ours.call(asyncFn, input++);
  }),
  async('ours: await execute(fn) (no timeout)', true, async () => {
    sink += await ours.execute(() => asyncFn(input++));
  }),
  async('ours: await execute(fn, {timeout})', true, async () => {
    sink += await ours.execute(() => asyncFn(input++), { timeout: 10_000 });
  }),
  // What a function pays if it reads context.signal: Node's AbortController, made on first read.
  sync('bare new AbortController() (floor)', false, () => {
    if (new AbortController().signal.aborted) sink++;
  }),
  sync('bare throw + catch (floor)', false, () => {
    try {
      throwIt();
    } catch {
      sink++;
    }
  }),
  sync('ours: rejected call (throw + catch)', true, () => {
    try {
      oursOpen.call(syncFn, input++);
    } catch {
      sink++;
    }
  }),
  sync('ours: rejected tryAcquire()', true, () => {
    if (oursOpen.tryAcquire() === null) sink++;
  }),
  async('bare await rejected promise (floor)', false, async () => {
    await Promise.reject(thrown).catch(swallow);
  }),
  async('ours: rejected await call(asyncFn)', true, async () => {
    await oursOpen.call(asyncFn, input++).catch(swallow);
  }),
];

if (!check) {
  const cockatiel = circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) });
  const cockatielOpen = circuitBreaker(handleAll, { halfOpenAfter: 1e9, breaker: new ConsecutiveBreaker(1) });
  await cockatielOpen.execute(() => Promise.reject(new Error('trip'))).catch(swallow);
  const opossum = new Opossum(asyncFn, { timeout: false });
  const opossumOpen = new Opossum(asyncFn, { timeout: false, resetTimeout: 1e9 });
  opossumOpen.open();
  cases.push(
    async('cockatiel: await execute(asyncFn)', false, async () => {
      sink += await cockatiel.execute(() => asyncFn(input++));
    }),
    async('opossum: await fire() timeout:false', false, async () => {
      sink += await opossum.fire(input++);
    }),
    async('cockatiel: rejected await execute()', false, async () => {
      await cockatielOpen.execute(() => asyncFn(input++)).catch(swallow);
    }),
    async('opossum: rejected await fire()', false, async () => {
      await opossumOpen.fire(input++).catch(swallow);
    }),
  );
  process.once('beforeExit', () => {
    opossum.shutdown();
    opossumOpen.shutdown();
  });
}

const bench = new Bench({ time: TIME_MS, warmupTime: check ? 50 : 250, timestampProvider: 'hrtimeNow' });
for (const { name, batch } of cases) {
  const isAsync = batch.constructor.name === 'AsyncFunction';
  bench.add(
    name,
    isAsync
      ? async (): Promise<FnReturnedObject> => {
          const start = bench.now();
          await batch();
          const elapsed = bench.now() - start;
          return { overriddenDuration: elapsed / BATCH, overriddenIterationCost: elapsed };
        }
      : (): FnReturnedObject => {
          const start = bench.now();
          void batch();
          const elapsed = bench.now() - start;
          return { overriddenDuration: elapsed / BATCH, overriddenIterationCost: elapsed };
        },
    { async: isAsync },
  );
}
await bench.run();

/** Median per-call cost in nanoseconds. */
function medianNs(name: string): number {
  const result = bench.getTask(name)?.result;
  if (result?.state !== 'completed' && result?.state !== 'aborted-with-statistics') {
    throw new Error(`bench task "${name}" did not complete (${result?.state ?? 'no result'})`);
  }
  return result.latency.p50 * 1e6;
}

const fmt = (ns: number) => (Math.abs(ns) >= 1_000 ? `${(ns / 1_000).toFixed(2)} µs` : `${ns.toFixed(1)} ns`);
const bareSync = medianNs('bare sync f()');
const bareAsync = medianNs('bare async await f()');
const bareRejection = medianNs('bare await rejected promise (floor)');
const bareThrow = medianNs('bare throw + catch (floor)');
/**
 * The bare-language cost of what a case does, measured in this run, so "over floor" is the
 * breaker's share: a refusal delivered by throw is compared with throwing a ready-made error
 * from a function and catching it; an awaited one with awaiting a rejected promise.
 */
function floorOf(name: string): number {
  if (name.includes('rejected')) return name.includes('await') ? bareRejection : name.includes('throw') ? bareThrow : 0;
  return name.includes('await') ? bareAsync : bareSync;
}

console.log(`node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; ${BATCH} calls per sample, ${TIME_MS} ms per case`);
console.table(
  cases.map(({ name }) => {
    const result = bench.getTask(name)!.result;
    const stats = result.state === 'completed' || result.state === 'aborted-with-statistics' ? result.latency : undefined;
    const median = medianNs(name);
    return {
      case: name,
      'median/call': fmt(median),
      'mean/call': stats ? fmt(stats.mean * 1e6) : '-',
      'p99 of batch means': stats ? fmt(stats.p99 * 1e6) : '-',
      'over floor': name.startsWith('bare') ? '' : fmt(median - floorOf(name)),
      samples: stats?.samplesCount ?? 0,
    };
  }),
);

interface Verdict {
  budget: string;
  measured: string;
  ok: boolean;
}
const verdicts: Verdict[] = [];
const budget = (text: string, measured: string, ok: boolean) => verdicts.push({ budget: text, measured, ok });

// The gate is the breaker's own share, over the language's floor measured in the same run: on a
// busy machine the floor alone (awaiting a rejected promise) has measured 1.9-2.5 µs.
for (const { name, ours: isOurs } of cases) {
  if (isOurs) budget(`${name}: over its floor < 1 µs per call`, `${fmt(medianNs(name) - floorOf(name))} (${fmt(medianNs(name))} in all)`, medianNs(name) - floorOf(name) < HARD_LIMIT_NS);
}
const refusalByThrow = medianNs('ours: rejected call (throw + catch)') - bareThrow;
budget('refusal by throw within 100 ns of a bare throw', `${fmt(refusalByThrow)} (${fmt(medianNs('ours: rejected call (throw + catch)'))} vs ${fmt(bareThrow)})`, refusalByThrow <= 100);
if (!check) {
  const syncOverhead = medianNs('ours: call(syncFn)') - bareSync;
  const asyncOverhead = medianNs('ours: await call(asyncFn)') - bareAsync;
  const cockatielOverhead = medianNs('cockatiel: await execute(asyncFn)') - bareAsync;
  // A refusal's own cost is the decision plus the error object (tryAcquire, nothing thrown). How
  // it is delivered adds the language's floor, the same for every library: a throw costs ~200 ns
  // and an awaited rejection ~500 ns on this machine (both rows are in the table), so awaited
  // rejections are also compared over their floor.
  const rejection = medianNs('ours: rejected tryAcquire()');
  const asyncRejection = medianNs('ours: rejected await call(asyncFn)') - bareRejection;
  budget('sync overhead <= 20 ns', fmt(syncOverhead), syncOverhead <= 20);
  budget('async overhead <= 60 ns', fmt(asyncOverhead), asyncOverhead <= 60);
  budget('async overhead below cockatiel’s', `${fmt(asyncOverhead)} vs ${fmt(cockatielOverhead)}`, asyncOverhead < cockatielOverhead);
  budget('rejection (tryAcquire) <= 100 ns', fmt(rejection), rejection <= 100);
  for (const peer of ['cockatiel: rejected await execute()', 'opossum: rejected await fire()']) {
    const theirs = medianNs(peer);
    const peerName = peer.split(':')[0]!;
    budget(`rejection >= 20x cheaper than ${peerName}’s`, `${(theirs / rejection).toFixed(0)}x (${fmt(rejection)} vs ${fmt(theirs)})`, theirs / rejection >= 20);
    const theirsOver = theirs - bareRejection;
    budget(
      `awaited rejection over its floor >= 20x cheaper than ${peerName}’s`,
      `${(theirsOver / asyncRejection).toFixed(0)}x (${fmt(asyncRejection)} vs ${fmt(theirsOver)})`,
      theirsOver / asyncRejection >= 20,
    );
  }
}
console.table(verdicts.map(({ budget: b, measured, ok }) => ({ budget: b, measured, verdict: ok ? 'ok' : 'OVER BUDGET' })));

const over = verdicts.filter((v) => !v.ok);
if (sink === -1) console.log('unreachable: keeps the results alive');
if (check) {
  // Only the hard limits gate CI; the tighter budgets are too close to this machine's noise.
  console.log(over.length === 0 ? 'bench:check: every mode is under 1 µs per call over its floor, and a refusal by throw within 100 ns of a bare throw' : `bench:check: ${over.length} budget(s) missed`);
  process.exitCode = over.length === 0 ? 0 : 1;
} else {
  console.log(over.length === 0 ? 'verdict: every budget met' : `verdict: ${over.length} budget(s) missed`);
}
