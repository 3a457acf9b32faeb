// The fleet: which model a name asks for, loading on demand (one start for every request that
// waits on it), idle unloads timed from the last request's end, orderly unloads that new requests
// wait out, pinned models never unloaded. Model servers are fakes whose start the test settles;
// timers are vitest's.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Fleet, MemoryRefusal, type FleetMemory, type FleetModel, type Held } from '../../../src/fleet/index.js';
import { silentLogger } from '../../../src/observability/logger.js';
import type { Serving, SupervisorState } from '../../../src/supervisor/index.js';
import { deferred, type Deferred } from '../../support/deferred.js';

class FakeSupervisor {
  state: SupervisorState = 'stopped';
  starts = 0;
  stops = 0;
  #started: Deferred<void> | undefined;
  readonly #lost = new AbortController();

  get serving(): Serving | undefined {
    return this.state === 'ready' ? { baseUrl: `http://127.0.0.1:1/${this.starts}`, lost: this.#lost.signal } : undefined;
  }

  start(): Promise<void> {
    this.starts++;
    this.state = 'starting';
    this.#started = deferred();
    return this.#started.promise;
  }

  ready(): void {
    this.state = 'ready';
    this.#started?.resolve();
  }

  giveUp(): void {
    this.state = 'fatal';
    this.#started?.reject(new Error('given up'));
  }

  async stop(): Promise<void> {
    this.stops++;
    this.state = 'stopped';
  }
}

type Model = FleetModel & { supervisor: FakeSupervisor };

const model = (name: string, fields: Partial<Omit<Model, 'supervisor'>> = {}): Model => ({ name, names: [name], pin: false, preload: false, ttlMs: 0, ...fields, supervisor: new FakeSupervisor() });

const fleetOf = (models: Model[], catchAll = false, unloadGraceMs = 1_000, memory?: FleetMemory) => new Fleet<Model>(models, { catchAll, unloadGraceMs, logger: silentLogger, ...(memory ? { memory } : {}) });

const GB = 1024 ** 3;

/**
 * A budget of `budgetGb`, each model expected to take what `sizes` says (GB), and measured at
 * `measured` once it runs; the system's free memory is 64 GB less what the running `models` take.
 */
const memoryOf = (budgetGb: number, sizes: Record<string, number>, measured: Record<string, number> = {}, models: Model[] = []): FleetMemory => ({
  budgetBytes: budgetGb * GB,
  waitMs: 10_000,
  estimate: async (model) => (sizes[model.name] === undefined ? undefined : sizes[model.name]! * GB),
  measure: async (model) => (measured[model.name] === undefined ? undefined : measured[model.name]! * GB),
  freeBytes: () => 64 * GB - models.filter((model) => model.supervisor.state !== 'stopped').reduce((sum, model) => sum + (sizes[model.name] ?? 0) * GB, 0),
});

/** Loads `model` through a request and ends that request (the model stays loaded, idle). */
async function loadIdle(fleet: Fleet<Model>, model: Model): Promise<void> {
  const loading = fleet.hold(model, new AbortController().signal);
  await settle();
  model.supervisor.ready();
  held(await loading).release();
}

/** What `hold` gave, which the test expects to be the model held. */
const held = (result: Held | MemoryRefusal | undefined): Held => {
  if (!result || result instanceof MemoryRefusal) throw new Error(`not held: ${result?.message ?? 'undefined'}`);
  return result;
};

/** Lets the promises settled so far run their continuations. */
const settle = () => vi.advanceTimersByTimeAsync(0);

describe('Fleet', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('finds a model by its name or an alias; no name is the first model; an unknown name is none; the one model answers every name', () => {
    const [coder, chat] = [model('coder', { names: ['coder', 'qwen-coder'] }), model('chat')];
    const fleet = fleetOf([coder, chat]);
    expect(fleet.find('qwen-coder')).toBe(coder);
    expect(fleet.find('chat')).toBe(chat);
    expect(fleet.find(undefined)).toBe(coder);
    expect(fleet.find('gpt-4o')).toBeUndefined();
    const only = model('org/model');
    expect(fleetOf([only], true).find('gpt-4o')).toBe(only);
    expect(() => fleetOf([coder, chat], true)).toThrow(RangeError);
    expect(() => fleetOf([])).toThrow(RangeError);
  });

  it('a model that is not loaded is loaded by the first request for it; every request meanwhile waits on that one start', async () => {
    const coder = model('coder');
    const fleet = fleetOf([coder]);
    expect(fleet.holdReady(coder)).toBeUndefined();
    const holds = [fleet.hold(coder, new AbortController().signal), fleet.hold(coder, new AbortController().signal)];
    await settle();
    expect(coder.supervisor.starts).toBe(1);
    coder.supervisor.ready();
    const [first, second] = (await Promise.all(holds)).map(held);
    expect(first?.serving.baseUrl).toBe('http://127.0.0.1:1/1');
    expect(second?.serving.baseUrl).toBe('http://127.0.0.1:1/1');
    expect(fleet.usage(coder).inFlight).toBe(2);
    first!.release();
    first!.release();
    expect(fleet.usage(coder).inFlight).toBe(1);
  });

  it('a load that fails, a model given up on, or one starting at launch is no model to hold: the caller refuses with its status', async () => {
    const [loading, fatal, launching] = [model('a'), model('b'), model('c')];
    const fleet = fleetOf([loading, fatal, launching]);
    const held = fleet.hold(loading, new AbortController().signal);
    await settle();
    loading.supervisor.giveUp();
    expect(await held).toBeUndefined();
    fatal.supervisor.state = 'fatal';
    expect(await fleet.hold(fatal, new AbortController().signal)).toBeUndefined();
    expect(fatal.supervisor.starts).toBe(0);
    void launching.supervisor.start();
    expect(await fleet.hold(launching, new AbortController().signal)).toBeUndefined();
    expect(launching.supervisor.starts).toBe(1);
  });

  it('a client that goes while its model loads stops waiting; the load goes on for the next one', async () => {
    const coder = model('coder');
    const fleet = fleetOf([coder]);
    const gone = new AbortController();
    const held = fleet.hold(coder, gone.signal);
    await settle();
    gone.abort(new Error('client gone'));
    await expect(held).rejects.toThrow('client gone');
    coder.supervisor.ready();
    expect(fleet.holdReady(coder)?.serving).toBeDefined();
    expect(coder.supervisor.starts).toBe(1);
  });

  it('an idle model is unloaded ttlMs after its last request ended, never while one is in flight; a pinned one never', async () => {
    const [coder, pinned] = [model('coder', { ttlMs: 60_000 }), model('pinned', { pin: true, ttlMs: 60_000 })];
    const fleet = fleetOf([coder, pinned]);
    const started = fleet.start();
    await settle();
    pinned.supervisor.ready();
    await started;
    const loading = fleet.hold(coder, new AbortController().signal);
    await settle();
    coder.supervisor.ready();
    const holding = held(await loading);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(coder.supervisor.stops).toBe(0);
    holding.release();
    await vi.advanceTimersByTimeAsync(59_000);
    const again = fleet.holdReady(coder)!;
    again.release();
    await vi.advanceTimersByTimeAsync(59_000);
    expect(coder.supervisor.stops).toBe(0);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(coder.supervisor.stops).toBe(1);
    expect(coder.supervisor.state).toBe('stopped');
    fleet.holdReady(pinned)!.release();
    await vi.advanceTimersByTimeAsync(600_000);
    expect(pinned.supervisor.stops).toBe(0);
  });

  it('an unload lets requests in flight finish (bounded), and a request that comes meanwhile waits, then gets the model loaded again', async () => {
    const coder = model('coder');
    const fleet = fleetOf([coder], false, 5_000);
    const first = fleet.hold(coder, new AbortController().signal);
    await settle();
    coder.supervisor.ready();
    const inFlight = held(await first);
    const unloaded = fleet.unload(coder, 'asked');
    await settle();
    expect(fleet.holdReady(coder)).toBeUndefined();
    const late = fleet.hold(coder, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(coder.supervisor.stops).toBe(0);
    inFlight.release();
    await unloaded;
    expect(coder.supervisor.stops).toBe(1);
    await settle();
    expect(coder.supervisor.starts).toBe(2);
    coder.supervisor.ready();
    expect(held(await late).serving.baseUrl).toBe('http://127.0.0.1:1/2');

    // A request that never ends holds the unload no longer than the grace.
    const stuck = fleet.unload(coder, 'asked');
    await vi.advanceTimersByTimeAsync(5_000);
    await stuck;
    expect(coder.supervisor.stops).toBe(2);
  });

  it('start loads the pinned models and waits for them, starts the preloaded ones without waiting, and rejects when a pinned one cannot start', async () => {
    const [pinned, preloaded, lazy] = [model('pinned', { pin: true }), model('preloaded', { preload: true }), model('lazy')];
    const fleet = fleetOf([pinned, preloaded, lazy]);
    let started = false;
    const start = fleet.start().then(() => (started = true));
    await settle();
    expect([pinned.supervisor.starts, preloaded.supervisor.starts, lazy.supervisor.starts]).toEqual([1, 1, 0]);
    expect(started).toBe(false);
    pinned.supervisor.ready();
    await start;
    const failing = model('failing', { pin: true });
    const refused = fleetOf([failing]).start();
    await settle();
    failing.supervisor.giveUp();
    await expect(refused).rejects.toThrow('given up');
  });

  it('memory: a load that would pass the budget unloads idle models first, least recently used, never a pinned one; one bigger than the whole budget is refused before it loads', async () => {
    const [pinned, a, b, c, huge] = [model('pinned', { pin: true }), model('a'), model('b'), model('c'), model('huge')];
    const fleet = fleetOf([pinned, a, b, c, huge], false, 1_000, memoryOf(10, { pinned: 4, a: 2, b: 2, c: 3, huge: 11 }, { a: 2.5 }, [pinned, a, b, c, huge]));
    const started = fleet.start();
    await settle();
    pinned.supervisor.ready();
    await started;
    await loadIdle(fleet, a);
    await vi.advanceTimersByTimeAsync(1_000);
    await loadIdle(fleet, b);
    // Held: pinned 4 + a 2.5 (measured above its estimate) + b 2 = 8.5; c needs 3: the least recently used, a, goes.
    await vi.advanceTimersByTimeAsync(1_000);
    fleet.holdReady(b)!.release();
    const loading = fleet.hold(c, new AbortController().signal);
    await settle();
    expect([a.supervisor.stops, b.supervisor.stops, pinned.supervisor.stops]).toEqual([1, 0, 0]);
    c.supervisor.ready();
    held(await loading).release();
    expect(await fleet.memoryHeld()).toEqual({ budgetBytes: 10 * GB, models: [{ name: 'pinned', bytes: 4 * GB }, { name: 'b', bytes: 2 * GB }, { name: 'c', bytes: 3 * GB }] });

    const refused = await fleet.hold(huge, new AbortController().signal);
    expect(refused).toBeInstanceOf(MemoryRefusal);
    expect((refused as MemoryRefusal).kind).toBe('too_large');
    expect((refused as MemoryRefusal).message).toMatch(/the model huge needs about 11\.0 GB .*more than the memory budget of 10\.0 GB \(models\.memoryBudgetBytes\)/);
    expect(huge.supervisor.starts).toBe(0);
  });

  it('memory: when only busy models hold it, the least recently used takes no new request and is unloaded once its requests end (bounded); past the wait it is opened again and the load refused, naming who holds what', async () => {
    const [a, b, c] = [model('a'), model('b'), model('c')];
    const fleet = fleetOf([a, b, c], false, 1_000, memoryOf(5, { a: 2, b: 2, c: 2 }, {}, [a, b, c]));
    await loadIdle(fleet, a);
    await vi.advanceTimersByTimeAsync(1_000);
    await loadIdle(fleet, b);
    const busyA = fleet.holdReady(a)!;
    const busyB = fleet.holdReady(b)!;
    const waiting = fleet.hold(c, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(c.supervisor.starts).toBe(0);
    // a, the least recently used, is closed: a request for it waits (for its reload), b still serves.
    expect(fleet.holdReady(a)).toBeUndefined();
    const forA = fleet.hold(a, new AbortController().signal);
    fleet.holdReady(b)!.release();
    busyB.release();
    await settle();
    expect(a.supervisor.stops).toBe(0);
    busyA.release();
    await settle();
    expect(a.supervisor.stops).toBe(1);
    c.supervisor.ready();
    held(await waiting).release();

    // a's request reloads it in turn: b (idle, least recent) makes room.
    await settle();
    expect(b.supervisor.stops).toBe(1);
    a.supervisor.ready();
    const busyAgainA = held(await forA);
    const busyC = fleet.holdReady(c)!;
    // Now a and c stay busy past the wait: b cannot come back, and a is opened again.
    const refused = fleet.hold(b, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(9_000);
    // a and c were last asked at the same moment: a, first in the list, is the one closed.
    expect(fleet.holdReady(a)).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1_000);
    const refusal = await refused;
    expect(refusal).toBeInstanceOf(MemoryRefusal);
    expect((refusal as MemoryRefusal).message).toMatch(/the model b needs about 2\.0 GB, and 4\.0 GB of the 5\.0 GB memory budget is held by a \(2\.0 GB, 1 request\(s\) in flight\), c \(2\.0 GB, 1 request\(s\) in flight\); retry once they are idle/);
    expect(b.supervisor.starts).toBe(1);
    fleet.holdReady(a)!.release();
    busyC.release();
    busyAgainA.release();
  });

  it('memory: after an eviction the next load waits to see the memory come back to the system (a Mac\'s wired memory can outlive the process), at most 10 s', async () => {
    const [a, b] = [model('a'), model('b')];
    let free = 10 * GB;
    const fleet = fleetOf([a, b], false, 1_000, { ...memoryOf(3, { a: 2, b: 2 }), freeBytes: () => free });
    await loadIdle(fleet, a);
    const loading = fleet.hold(b, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(a.supervisor.stops).toBe(1);
    expect(b.supervisor.starts).toBe(0);
    free += 1.5 * GB;
    await vi.advanceTimersByTimeAsync(100);
    expect(b.supervisor.starts).toBe(1);
    b.supervisor.ready();
    held(await loading).release();
    // Never seen back: the load goes on after 10 s.
    const again = fleet.hold(a, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(9_900);
    expect(a.supervisor.starts).toBe(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(a.supervisor.starts).toBe(2);
    a.supervisor.ready();
    held(await again).release();
  });

  it('memory: at start, pinned and preloaded models are admitted like any load; a pinned one that does not fit fails the start with the numbers, a preloaded one is left for later', async () => {
    const [pinned, preloaded, pinnedToo] = [model('pinned', { pin: true }), model('preloaded', { preload: true }), model('too', { pin: true })];
    const fleet = fleetOf([pinned, preloaded, pinnedToo], false, 1_000, memoryOf(5, { pinned: 3, preloaded: 3, too: 3 }, {}, [pinned, preloaded, pinnedToo]));
    const failed = expect(fleet.start()).rejects.toThrow(/the model too needs about 3\.0 GB, and 3\.0 GB of the 5\.0 GB memory budget is held by pinned \(3\.0 GB, pinned\)/);
    await settle();
    expect([pinned.supervisor.starts, preloaded.supervisor.starts, pinnedToo.supervisor.starts]).toEqual([1, 0, 0]);
    pinned.supervisor.ready();
    await failed;
    expect(preloaded.supervisor.starts).toBe(0);
  });

  it('once stopped, every model server is stopped and none is loaded again', async () => {
    const [a, b] = [model('a', { pin: true }), model('b')];
    const fleet = fleetOf([a, b]);
    const start = fleet.start();
    await settle();
    a.supervisor.ready();
    await start;
    await fleet.stop();
    expect(a.supervisor.state).toBe('stopped');
    expect(await fleet.hold(b, new AbortController().signal)).toBeUndefined();
    expect(b.supervisor.starts).toBe(0);
  });
});
