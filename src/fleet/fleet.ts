import type { Logger } from '../observability/logger.js';
import type { Serving, Supervisor } from '../supervisor/index.js';
import { unlessAborted, within } from '../util/deadlines.js';

/** What the fleet needs of a model: the names that ask for it, its model server, and how it stays loaded. */
export interface FleetModel {
  readonly name: string;
  readonly names: readonly string[];
  /** Loaded at start and never unloaded. */
  readonly pin: boolean;
  /** Loaded at start (a pinned model is too). */
  readonly preload: boolean;
  /** Unloaded after this long without a request in flight; 0: never. */
  readonly ttlMs: number;
  readonly supervisor: FleetSupervisor;
}

/** What the fleet does with a model server: start it, stop it, and see whether it serves. */
export type FleetSupervisor = Pick<Supervisor, 'state' | 'serving' | 'start' | 'stop'>;

/**
 * What the models take in memory, for a budget across them: what loading one is expected to take,
 * and what one loaded takes now.
 */
export interface FleetMemory<M extends FleetModel = FleetModel> {
  /** Bytes the loaded models may take in all. */
  readonly budgetBytes: number;
  /** How long a load waits for models busy with requests to finish, when only their memory would make room. */
  readonly waitMs: number;
  /** What loading the model is expected to take (its weights and the KV cache of its context); undefined when unknown. */
  estimate(model: M): Promise<number | undefined>;
  /** What its model server takes now (resident memory), while it runs; undefined when unknown. */
  measure(model: M): Promise<number | undefined>;
  /**
   * The memory the system has free now, where an exited process's memory can take a while to come
   * back (a Mac's wired memory): an evicted model's is then seen come back before the next load.
   */
  freeBytes?(): number;
}

/** How long a load waits to see an evicted model's memory come back to the system, after its process exited. */
const RELEASE_WAIT_MS = 10_000;
const RELEASE_POLL_MS = 100;

/** Why a model was not loaded: it would not fit in the memory budget, now (`memory`) or ever (`too_large`). */
export class MemoryRefusal extends Error {
  override name = 'MemoryRefusal';

  constructor(
    readonly kind: 'memory' | 'too_large',
    message: string,
  ) {
    super(message);
  }
}

/** A model's server, ready, held for one request: the model is not unloaded for idleness until `release`. */
export interface Held {
  readonly serving: Serving;
  release(): void;
}

export interface FleetOptions<M extends FleetModel = FleetModel> {
  /** One model answers every name (mlx-guard's one-model command line). */
  catchAll: boolean;
  /** Requests in flight on a model being unloaded get this long to finish before its server is stopped. */
  unloadGraceMs: number;
  logger: Logger;
  /** A budget across the models' memory: a load that would exceed it evicts idle models first (least recently used), or is refused. */
  memory?: FleetMemory<M>;
  now?: () => number;
}

const gigabytes = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(bytes < 1024 ** 3 ? 2 : 1)} GB`;

/** How one model is being used: requests in flight, the last one, and a load or unload under way. */
class Usage {
  inFlight = 0;
  lastUsedAt: number | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  /** A load a request started: requests wait for it instead of being refused while the server starts. */
  loading: Promise<void> | undefined;
  unloading: Promise<void> | undefined;
  /** Resolved when the last request in flight ends (an unload and a load may both wait for it). */
  #drained: Array<() => void> = [];

  whenDrained(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.#drained.push(resolve));
  }

  ended(): void {
    this.inFlight--;
    if (this.inFlight > 0) return;
    const drained = this.#drained;
    this.#drained = [];
    for (const resolve of drained) resolve();
  }
}

/**
 * The models mlx-guard serves, each with its own supervised model server: which one a request's
 * model name asks for, loading it on demand, and unloading it when nobody asks for it. A request
 * for a model that is being unloaded waits for the unload, then for the reload.
 */
export class Fleet<M extends FleetModel> {
  readonly #byName = new Map<string, M>();
  readonly #usage = new Map<M, Usage>();
  readonly #options: FleetOptions<M>;
  readonly #now: () => number;
  #stopped = false;
  /** Loads are admitted one at a time: two that each fit alone must not both be let in. */
  #admissions: Promise<unknown> = Promise.resolve();

  constructor(
    readonly models: readonly M[],
    options: FleetOptions<M>,
  ) {
    if (models.length === 0) throw new RangeError('a fleet needs at least one model');
    if (options.catchAll && models.length > 1) throw new RangeError('one model answers every name only when it is the only one');
    for (const model of models) {
      for (const name of model.names) this.#byName.set(name, model);
      this.#usage.set(model, new Usage());
    }
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** The first model: the one a request that names none gets, and the one of a one-model configuration. */
  get primary(): M {
    return this.models[0]!;
  }

  /** Whether one model answers every name. */
  get catchAll(): boolean {
    return this.#options.catchAll;
  }

  /** The model a request's model name asks for; a request that names none gets the first. Undefined: no such model here. */
  find(name: string | undefined): M | undefined {
    if (this.#options.catchAll || name === undefined) return this.primary;
    return this.#byName.get(name);
  }

  /** Requests in flight on the model, and when the last one came or ended. */
  usage(model: M): { inFlight: number; lastUsedAt: number | undefined } {
    const { inFlight, lastUsedAt } = this.#usage.get(model)!;
    return { inFlight, lastUsedAt };
  }

  /**
   * Starts the pinned and preloaded models, each admitted to the memory budget like any load (in
   * the order listed); resolves once every pinned one is ready, and rejects when one cannot be
   * started or does not fit (its supervisor's error, or the `MemoryRefusal`). The others load when
   * first asked for.
   */
  async start(): Promise<void> {
    const pinned: Array<Promise<void>> = [];
    for (const model of this.models) {
      if (!model.pin && !model.preload) continue;
      const admitted = this.#admissions.then(() => this.#admit(model));
      this.#admissions = admitted.catch(() => undefined);
      const ready = admitted.then(() => model.supervisor.start());
      if (model.pin) pinned.push(ready);
      else
        ready.then(
          () => this.#armIdleTimer(model),
          (error: unknown) => this.#options.logger.error({ event: 'model_preload_failed', model: model.name, err: error }, `the model ${model.name} could not be preloaded (${(error as Error).message}); it is tried again when asked for`),
        );
    }
    await Promise.all(pinned);
  }

  /**
   * The model's server, ready and held for one request; loads the model first when it is not
   * loaded (or waits for the load or unload under way). Undefined when it is not serving for
   * another reason (restarting, given up, starting at launch): the caller refuses with its status.
   * A `MemoryRefusal` when it would not fit in the memory budget. Rejects with `signal`'s reason
   * when the client goes first.
   */
  async hold(model: M, signal: AbortSignal): Promise<Held | MemoryRefusal | undefined> {
    return this.#hold(model, signal, false);
  }

  /**
   * Loads the model as a request would, and a model given up on too (an admin's word that it was
   * fixed): resolves once it is ready (true), refused for memory, or not serving (false).
   */
  async load(model: M, signal: AbortSignal): Promise<true | false | MemoryRefusal> {
    const held = await this.#hold(model, signal, true);
    if (held instanceof MemoryRefusal) return held;
    held?.release();
    return held !== undefined;
  }

  async #hold(model: M, signal: AbortSignal, revive: boolean): Promise<Held | MemoryRefusal | undefined> {
    const ready = this.holdReady(model);
    if (ready) return ready;
    const usage = this.#usage.get(model)!;
    if (usage.unloading) {
      await unlessAborted(usage.unloading, signal);
      // Closed for an eviction that did not happen (its requests ran past the wait): open again.
      const reopened = this.holdReady(model);
      if (reopened) return reopened;
    }
    const { state } = model.supervisor;
    // A load under way (admitted, its server not started yet) is the one to wait for.
    if (!usage.loading && (state === 'stopped' || (revive && state === 'fatal')) && !this.#stopped) this.#load(model, usage);
    if (!usage.loading) return undefined;
    const refused = await unlessAborted(
      usage.loading.then(
        () => undefined,
        (error: unknown) => (error instanceof MemoryRefusal ? error : undefined),
      ),
      signal,
    );
    if (refused) return refused;
    const loaded = usage.unloading ? undefined : model.supervisor.serving;
    return loaded ? this.#held(model, usage, loaded) : undefined;
  }

  /** The model's server held for one request when it is ready now (nearly every request); else undefined, and `hold` waits. */
  holdReady(model: M): Held | undefined {
    const usage = this.#usage.get(model)!;
    const serving = usage.unloading ? undefined : model.supervisor.serving;
    return serving ? this.#held(model, usage, serving) : undefined;
  }

  #held(model: M, usage: Usage, serving: Serving): Held {
    usage.inFlight++;
    usage.lastUsedAt = this.#now();
    clearTimeout(usage.idleTimer);
    let released = false;
    return {
      serving,
      release: () => {
        if (released) return;
        released = true;
        usage.ended();
        usage.lastUsedAt = this.#now();
        this.#armIdleTimer(model);
      },
    };
  }

  #load(model: M, usage: Usage): void {
    this.#options.logger.info({ event: 'model_load', model: model.name }, `loading the model ${model.name}: a request asked for it`);
    const admitted = this.#admissions.then(() => this.#admit(model));
    this.#admissions = admitted.catch(() => undefined);
    usage.loading = admitted
      .then(() => model.supervisor.start())
      .finally(() => {
        usage.loading = undefined;
        this.#armIdleTimer(model);
      });
    usage.loading.catch((error: unknown) => {
      if (error instanceof MemoryRefusal) this.#options.logger.warn({ event: 'model_load_refused', model: model.name, kind: error.kind }, error.message);
      else this.#options.logger.error({ event: 'model_load_failed', model: model.name, err: error }, `the model ${model.name} could not be loaded: ${(error as Error).message}`);
    });
  }

  /**
   * Makes room for the model within the memory budget, or refuses it: idle models that are not
   * pinned are unloaded, least recently used first; then models busy with requests are waited
   * for (at most `waitMs`); what still does not fit is refused, naming what holds the memory.
   */
  async #admit(model: M): Promise<void> {
    const memory = this.#options.memory;
    if (!memory) return;
    const need = await memory.estimate(model);
    if (need === undefined) {
      this.#options.logger.warn({ event: 'model_size_unknown', model: model.name }, `the memory the model ${model.name} takes is not known before it loads (no weights found); it is loaded unchecked and measured once it runs`);
      return;
    }
    const budget = memory.budgetBytes;
    if (need > budget) throw new MemoryRefusal('too_large', `the model ${model.name} needs about ${gigabytes(need)} (weights, KV cache and its server), more than the memory budget of ${gigabytes(budget)} (models.memoryBudgetBytes) with nothing else loaded: it is not loaded`);
    const deadline = this.#now() + memory.waitMs;
    for (;;) {
      const holding = await this.#holding(model, memory);
      const held = holding.reduce((sum, { bytes }) => sum + bytes, 0);
      if (held + need <= budget) return;
      const idle = holding.filter(({ model: other }) => !other.pin && this.#usage.get(other)!.inFlight === 0 && !this.#usage.get(other)!.loading);
      const leastRecent = idle.sort((a, b) => (this.#usage.get(a.model)!.lastUsedAt ?? 0) - (this.#usage.get(b.model)!.lastUsedAt ?? 0))[0];
      if (leastRecent) {
        const freeBefore = memory.freeBytes?.();
        await this.unload(leastRecent.model, `evicted to make room for ${model.name} (memory budget ${gigabytes(budget)})`);
        if (freeBefore !== undefined) await this.#released(() => memory.freeBytes!(), leastRecent, freeBefore + leastRecent.bytes / 2);
        continue;
      }
      // Only busy models hold the rest: the least recently used one takes no new request (they wait
      // for its reload) and is unloaded once those in flight have finished, if they do in time.
      const busy = holding.filter(({ model: other }) => !other.pin && !this.#usage.get(other)!.loading && !this.#usage.get(other)!.unloading);
      const victim = busy.sort((a, b) => (this.#usage.get(a.model)!.lastUsedAt ?? 0) - (this.#usage.get(b.model)!.lastUsedAt ?? 0))[0];
      const left = deadline - this.#now();
      const freeBefore = memory.freeBytes?.();
      if (victim && left > 0 && (await this.#evictOnceDrained(victim.model, left, `evicted to make room for ${model.name} (memory budget ${gigabytes(budget)}), once its requests in flight had finished`))) {
        if (freeBefore !== undefined) await this.#released(() => memory.freeBytes!(), victim, freeBefore + victim.bytes / 2);
        continue;
      }
      // The rest is held by models being loaded or unloaded: what they come to decides.
      const changing = holding.flatMap(({ model: other }) => [this.#usage.get(other)!.loading, this.#usage.get(other)!.unloading]).filter((settling) => settling !== undefined);
      if (!victim && changing.length > 0 && left > 0) {
        await within(Promise.race(changing.map((settling) => settling.catch(() => undefined))), left, undefined);
        continue;
      }
      const holders = holding.map(({ model: other, bytes }) => `${other.name} (${gigabytes(bytes)}${other.pin ? ', pinned' : `, ${this.#usage.get(other)!.inFlight} request(s) in flight`})`).join(', ');
      throw new MemoryRefusal('memory', `the model ${model.name} needs about ${gigabytes(need)}, and ${gigabytes(held)} of the ${gigabytes(budget)} memory budget is held by ${holders}; retry once they are idle, or unload one`);
    }
  }

  /**
   * Closes a busy model to new requests (they wait) and unloads it once those in flight have
   * finished; if they have not within `withinMs`, it is opened again and left loaded (false).
   */
  async #evictOnceDrained(model: M, withinMs: number, why: string): Promise<boolean> {
    const usage = this.#usage.get(model)!;
    let reopen!: () => void;
    const closed = new Promise<void>((resolve) => (reopen = resolve));
    usage.unloading = closed;
    try {
      if ((await within(usage.whenDrained(), withinMs, 'busy')) === 'busy') return false;
      this.#options.logger.info({ event: 'model_unload', model: model.name, why }, `unloading the model ${model.name}: ${why}`);
      await model.supervisor.stop();
      return true;
    } finally {
      if (usage.unloading === closed) usage.unloading = undefined;
      reopen();
    }
  }

  /**
   * Waits (at most RELEASE_WAIT_MS) until the system's free memory reaches `target`: on a Mac a
   * stopped process's wired memory can outlive it a moment, and a load into it runs out of memory.
   */
  async #released(freeBytes: () => number, evicted: { model: M; bytes: number }, target: number): Promise<void> {
    const deadline = this.#now() + RELEASE_WAIT_MS;
    while (freeBytes() < target) {
      if (this.#now() >= deadline) {
        this.#options.logger.warn({ event: 'memory_not_released', model: evicted.model.name, bytes: evicted.bytes }, `the memory of ${evicted.model.name} (${gigabytes(evicted.bytes)}) was not seen come back within ${RELEASE_WAIT_MS / 1000} s of its server's exit; loading the next model anyway`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, RELEASE_POLL_MS));
    }
  }

  /** The models (besides `except`) whose servers hold memory, each with what it holds: what it was expected to take, or takes now if more. */
  async #holding(except: M | undefined, memory: FleetMemory<M>): Promise<Array<{ model: M; bytes: number }>> {
    const loaded = this.models.filter((other) => other !== except && other.supervisor.state !== 'stopped' && other.supervisor.state !== 'fatal');
    return Promise.all(loaded.map(async (other) => ({ model: other, bytes: Math.max((await memory.estimate(other)) ?? 0, (await memory.measure(other)) ?? 0) })));
  }

  #armIdleTimer(model: M): void {
    const usage = this.#usage.get(model)!;
    clearTimeout(usage.idleTimer);
    if (model.pin || model.ttlMs === 0 || usage.inFlight > 0 || this.#stopped) return;
    usage.idleTimer = setTimeout(() => void this.unload(model, `nobody asked for it for ${model.ttlMs / 1000} s`), model.ttlMs);
    usage.idleTimer.unref();
  }

  /**
   * Unloads the model: new requests for it wait, those in flight get `unloadGraceMs` to finish,
   * then its server is stopped (SIGTERM, then SIGKILL after the supervisor's grace).
   */
  unload(model: M, why: string): Promise<void> {
    const usage = this.#usage.get(model)!;
    usage.unloading ??= (async () => {
      clearTimeout(usage.idleTimer);
      if (usage.loading) await usage.loading.catch(() => undefined);
      if (model.supervisor.state === 'stopped') return;
      this.#options.logger.info({ event: 'model_unload', model: model.name, why, inFlight: usage.inFlight }, `unloading the model ${model.name}: ${why}`);
      await within(usage.whenDrained(), this.#options.unloadGraceMs, undefined);
      await model.supervisor.stop();
    })().finally(() => (usage.unloading = undefined));
    return usage.unloading;
  }

  /** What the loaded models hold in memory, by the same measure loads are admitted by; undefined without a budget. */
  async memoryHeld(): Promise<{ budgetBytes: number; models: Array<{ name: string; bytes: number }> } | undefined> {
    const memory = this.#options.memory;
    if (!memory) return undefined;
    const holding = await this.#holding(undefined, memory);
    return { budgetBytes: memory.budgetBytes, models: holding.map(({ model, bytes }) => ({ name: model.name, bytes })) };
  }

  /** Stops every model server; nothing is loaded again. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const usage of this.#usage.values()) clearTimeout(usage.idleTimer);
    await Promise.all(this.models.map((model) => model.supervisor.stop()));
  }
}
