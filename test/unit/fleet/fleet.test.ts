// The fleet: which model a name asks for, loading on demand (one start for every request that
// waits on it), idle unloads timed from the last request's end, orderly unloads that new requests
// wait out, pinned models never unloaded. Model servers are fakes whose start the test settles;
// timers are vitest's.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Fleet, type FleetModel } from '../../../src/fleet/index.js';
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

const fleetOf = (models: Model[], catchAll = false, unloadGraceMs = 1_000) => new Fleet(models, { catchAll, unloadGraceMs, logger: silentLogger });

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
    const [first, second] = await Promise.all(holds);
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
    pinned.supervisor.ready();
    await started;
    const loading = fleet.hold(coder, new AbortController().signal);
    await settle();
    coder.supervisor.ready();
    const held = (await loading)!;
    await vi.advanceTimersByTimeAsync(120_000);
    expect(coder.supervisor.stops).toBe(0);
    held.release();
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
    const inFlight = (await first)!;
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
    expect((await late)?.serving.baseUrl).toBe('http://127.0.0.1:1/2');

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
    failing.supervisor.giveUp();
    await expect(refused).rejects.toThrow('given up');
  });

  it('once stopped, every model server is stopped and none is loaded again', async () => {
    const [a, b] = [model('a', { pin: true }), model('b')];
    const fleet = fleetOf([a, b]);
    const start = fleet.start();
    a.supervisor.ready();
    await start;
    await fleet.stop();
    expect(a.supervisor.state).toBe('stopped');
    expect(await fleet.hold(b, new AbortController().signal)).toBeUndefined();
    expect(b.supervisor.starts).toBe(0);
  });
});
