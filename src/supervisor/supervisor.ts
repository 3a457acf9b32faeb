import { setMaxListeners } from 'node:events';
import { Listeners, type CircuitBreaker, type Unsubscribe } from '../breaker/index.js';
import { Journal, POISON_DEFAULTS, type RequestInfo } from '../journal/index.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import { unlessAborted, within } from '../util/deadlines.js';
import { watchBreaker } from './breaker-watch.js';
import { ChildRecords, RunDirError } from './child-records.js';
import { ModelServerLostError, SupervisorFatalError } from './errors.js';
import { Launch, type LaunchTrigger } from './launch.js';
import { planLaunch, type LaunchPlan } from './launch-plan.js';
import { judgeLaunchEnd, type LaunchSeen } from './launch-verdict.js';
import type { Endpoint } from './canary.js';
import type { ChildExit } from './model-server-process.js';
import { resolveSupervisorOptions, type ResolvedSupervisorOptions, type SupervisorOptions } from './options.js';
import { freePort } from './ports.js';
import { RestartPolicy } from './restart-policy.js';
import type { HeartbeatStatus, Prepare, Progress, RestartCause, RestartEvent, Serving, SupervisorState, SupervisorStatus, Transition } from './supervisor-types.js';


/** What ended one launch: a restart, a stop, or a reason to give up. */
type LaunchEnd = { kind: 'restart'; cause: RestartCause; detail: string; exit?: ChildExit } | { kind: 'stop' } | { kind: 'fatal'; error: SupervisorFatalError };

/**
 * Owns the model-server child for its whole life: launches it, proves it ready with a canary,
 * watches it (exit, stderr, liveness canaries, the inference breaker), restarts it with backoff
 * and a budget, and stops it without leaving anything behind.
 *
 * States: stopped → starting → ready ⇄ degraded → stopping → backoff → (starting …) | fatal.
 */
export class Supervisor {
  readonly options: ResolvedSupervisorOptions;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #policy: RestartPolicy;
  readonly #transitions = new Listeners<Transition>();
  readonly #restartListeners = new Listeners<RestartEvent>();
  readonly #progressListeners = new Listeners<Progress>();
  readonly #logLines: string[] = [];
  readonly #restartCounts: Partial<Record<RestartCause, number>> = {};

  #state: SupervisorState = 'stopped';
  #detail = '';
  #plan: LaunchPlan | undefined;
  /** The launch under way (its child, heartbeat and hooks), if any. */
  #launch: Launch | undefined;
  #endpoint: Endpoint | undefined;
  #lastTimeToReadyMs: number | undefined;
  #fatal: SupervisorFatalError | undefined;
  #run: Promise<void> | undefined;
  /** Resolves the current launch's wait with the first trigger; replaced per launch. */
  #triggered: ((trigger: LaunchTrigger) => void) | undefined;
  #pendingLaunchTrigger: LaunchTrigger | undefined;
  #readyWaiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  /** mlx-guard's requests to the model server: their progress proves it alive; a loss gives them verdicts. */
  readonly journal: Journal;
  /** The requests in flight when the current launch ended, for its restart event. */
  #inFlightAtLoss: RequestInfo[] = [];
  #lost: AbortController | undefined;
  /** What requests are sent to while this child serves (its endpoint and its `lost` signal). */
  #serving: Serving | undefined;
  readonly #records: ChildRecords;
  #stopRequested = false;
  /** Since the last start, the server has been ready: giving up on it is then a cool-down, not fatal. */
  #hasServed = false;
  #coolingDownUntil: number | undefined;
  /** The next restart spends no budget: a manual one, or one a known poison request caused. */
  #unbudgetedRelaunch = false;

  /** Runs once the backend is chosen and before the first launch (a model's first download): its time is not the start deadline's. */
  readonly #prepare: Prepare | undefined;

  /** `recordSlot`: names this supervisor's record among several in one process (one per model; see `ChildRecords`). */
  constructor(options: SupervisorOptions = {}, dependencies: { logger?: Logger; now?: () => number; random?: () => number; prepare?: Prepare; journal?: Journal; recordSlot?: string } = {}) {
    this.options = resolveSupervisorOptions(options);
    this.journal = dependencies.journal ?? new Journal(POISON_DEFAULTS, dependencies.now);
    this.#prepare = dependencies.prepare;
    this.#logger = dependencies.logger ?? silentLogger;
    this.#now = dependencies.now ?? Date.now;
    this.#policy = new RestartPolicy(this.options.restart, this.#now, dependencies.random);
    this.#records = new ChildRecords(this.options.runDir, undefined, dependencies.recordSlot);
  }

  get state(): SupervisorState {
    return this.#state;
  }

  /** The ready child's URL (undefined unless ready or degraded). */
  get baseUrl(): string | undefined {
    return this.serving?.baseUrl;
  }

  /** The ready child, with the signal that ends the requests sent to it (undefined unless ready or degraded). */
  get serving(): Serving | undefined {
    if ((this.#state !== 'ready' && this.#state !== 'degraded') || !this.#endpoint || !this.#lost) return undefined;
    return this.#serving;
  }

  get status(): SupervisorStatus {
    return {
      state: this.#state,
      detail: this.#detail,
      backend: this.#plan?.backend ?? this.options.backend,
      pid: this.#launch?.child.pid,
      baseUrl: this.baseUrl,
      restarts: { ...this.#restartCounts },
      lastTimeToReadyMs: this.#lastTimeToReadyMs,
      fatal: this.#fatal ? { reason: this.#fatal.reason, message: this.#fatal.message } : undefined,
      coolingDownUntil: this.#coolingDownUntil,
    };
  }

  /**
   * The host's heartbeat hooks in the running model server (none for a `command` backend). Apart
   * from `status`, which refusals read on the request path: this one builds a list.
   */
  get heartbeat(): HeartbeatStatus | undefined {
    const hooks = this.#launch?.hooks;
    if (!hooks) return undefined;
    const fired = this.#launch?.heartbeat?.fired ?? {};
    return { version: hooks.version, missing: hooks.missing, hooks: hooks.hooks.map((hook) => ({ ...hook, fired: fired[hook.name] ?? 0 })) };
  }

  get recentLogLines(): string[] {
    return [...this.#logLines];
  }

  onTransition(listener: (transition: Transition) => void): Unsubscribe {
    return this.#transitions.add(listener);
  }

  onRestart(listener: (event: RestartEvent) => void): Unsubscribe {
    return this.#restartListeners.add(listener);
  }

  onProgress(listener: (progress: Progress) => void): Unsubscribe {
    return this.#progressListeners.add(listener);
  }

  /** The ready server as soon as there is one; rejects when the supervisor gives up or stops, or `signal` aborts. */
  async whenServing(signal: AbortSignal): Promise<Serving> {
    for (;;) {
      const serving = this.serving;
      if (serving) return serving;
      if (this.#state === 'fatal' || this.#state === 'stopped') throw new ModelServerLostError(this.#state, this.#detail || this.#state);
      signal.throwIfAborted();
      await unlessAborted(this.#nextReady(), signal);
    }
  }

  /**
   * Launches the model server and resolves once it answers a canary. Rejects with a
   * SupervisorFatalError when it cannot be started (the message names the fix); transient
   * failures are retried under the restart policy first.
   */
  start(): Promise<void> {
    if (this.#state === 'fatal') {
      this.#fatal = undefined;
      this.#policy.reset();
      this.#plan = undefined;
    }
    this.#hasServed = false;
    const ready = this.#whenReady();
    this.#run ??= this.#lifecycle().finally(() => (this.#run = undefined));
    return ready;
  }

  /** Stops the child (SIGTERM, SIGKILL after the grace period) and waits for it to exit. */
  async stop(): Promise<void> {
    // Nothing runs: a stop trigger left pending would end the next start's first launch at once.
    if (!this.#run) return;
    this.#stopRequested = true;
    this.#fire({ cause: 'stop', detail: 'stop requested' });
    await this.#run;
    this.#stopRequested = false;
  }

  /**
   * Ends the model server's process group at once (SIGKILL), synchronously: for a process about to
   * exit without stopping it (a second Ctrl-C, an uncaught error), which must leave nothing behind.
   */
  killNow(): void {
    this.#launch?.child.signalGroup('SIGKILL');
  }

  /** Restarts the child now, without backoff; also revives a fatal supervisor. */
  async restart(cause: RestartCause = 'manual'): Promise<void> {
    if (this.#state === 'fatal' || this.#state === 'stopped') return this.start();
    this.#unbudgetedRelaunch = cause === 'manual';
    const ready = this.#nextReady();
    this.#fire({ cause, detail: `${cause} restart requested` });
    return ready;
  }

  /** Follows the inference breaker (see `watchBreaker`): degraded while it is not closed, restarted when it stays open and a canary fails. */
  watchBreaker(breaker: CircuitBreaker): Unsubscribe {
    return watchBreaker(
      breaker,
      {
        serving: () => (this.#launch && this.#endpoint && (this.#state === 'ready' || this.#state === 'degraded') ? { launch: this.#launch, endpoint: this.#endpoint } : undefined),
        degrade: (detail) => {
          if (this.#state === 'ready') this.#setState('degraded', 'breaker_open', detail);
        },
        recover: () => {
          if (this.#state === 'degraded') this.#setState('ready', 'breaker_closed');
        },
        restart: (detail) => this.#fire({ cause: 'breaker_open', detail }),
        onTransition: (listener) => this.onTransition(listener),
      },
      { whenOpenForMs: this.options.restart.whenOpenForMs, canaryTimeoutMs: this.options.liveness.canaryTimeoutMs },
    );
  }

  #whenReady(): Promise<void> {
    if (this.#state === 'ready' || this.#state === 'degraded') return Promise.resolve();
    return this.#nextReady();
  }

  /** Resolves at the next time the child becomes ready; rejects if the supervisor stops or gives up first. */
  #nextReady(): Promise<void> {
    return new Promise((resolve, reject) => this.#readyWaiters.push({ resolve, reject }));
  }

  #settleWaiters(error?: Error): void {
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const waiter of waiters) {
      if (error) waiter.reject(error);
      else waiter.resolve();
    }
  }

  #setState(to: SupervisorState, cause: string, detail = ''): void {
    const from = this.#state;
    this.#state = to;
    this.#detail = detail;
    const transition: Transition = { from, to, cause, at: this.#now(), ...(detail ? { detail } : {}) };
    this.#logger.info({ event: 'supervisor_transition', ...transition }, `model server ${from} → ${to} (${cause})${detail ? `: ${detail}` : ''}`);
    this.#transitions.emit(transition);
  }

  #fire(trigger: LaunchTrigger): void {
    if (this.#triggered) this.#triggered(trigger);
    else this.#pendingLaunchTrigger ??= trigger;
  }

  async #lifecycle(): Promise<void> {
    try {
      // Starting from the first moment: mlx-guard's port is open meanwhile, and says so.
      this.#setState('starting', 'start', 'choosing and preparing the model server');
      // Planned once (which backend, its Python, mlx-lm's version: a probe of seconds) and kept for
      // the next start, as a fleet reloads a model it unloaded; planned again when a start follows a fatal end.
      if (!this.#plan) {
        this.#plan = await planLaunch(this.options);
        if (this.#plan.notice) this.#logger.warn({ event: 'backend_choice', backend: this.#plan.backend }, this.#plan.notice);
      }
      await this.#prepare?.(this.#plan.backend, (progress) => {
        this.#detail = progress.text;
        this.#progressListeners.emit(progress);
      });
      await this.#records.prepare();
      await this.#records.sweep(this.#logger, this.options.stop.graceMs);
      for (;;) {
        const end = await this.#launchOnce();
        if (end.kind === 'stop') break;
        if (end.kind === 'fatal') throw end.error;
        const unbudgeted = this.#unbudgetedRelaunch;
        this.#unbudgetedRelaunch = false;
        const decision = unbudgeted ? { relaunchInMs: 0, attempt: 0 } : this.#policy.next();
        if ('exhausted' in decision) {
          const spent = `the model server needed ${decision.restartsInWindow} restarts within ${this.options.restart.windowMs / 1000} s (last: ${end.cause}: ${end.detail})`;
          const { coolDownMs } = this.options.restart;
          // One that never served has a problem a person must fix; one that served may have met
          // requests that crash it (a prompt too long for the GPU's memory): it is tried again.
          if (!this.#hasServed || coolDownMs === 0) {
            throw new SupervisorFatalError('restart_budget_exhausted', `${spent}; mlx-guard stopped restarting it. Check the log lines above, then restart it by hand.`);
          }
          const interrupted = await this.#coolDown(spent, coolDownMs);
          if (interrupted === 'stop') break;
          continue;
        }
        this.#restartCounts[end.cause] = (this.#restartCounts[end.cause] ?? 0) + 1;
        const inFlight = this.#inFlightAtLoss;
        const event: RestartEvent = { cause: end.cause, detail: end.detail, relaunchInMs: decision.relaunchInMs, logLines: this.recentLogLines, inFlight, ...(end.exit ? { exit: end.exit } : {}) };
        this.#logger.warn(
          { event: 'model_server_restart', cause: end.cause, detail: end.detail, exit: end.exit, relaunchInMs: decision.relaunchInMs, inFlight },
          `restarting the model server (${end.cause}) in ${decision.relaunchInMs} ms; ${inFlight.length} request(s) were in flight`,
        );
        this.#restartListeners.emit(event);
        this.#setState('backoff', end.cause, `relaunch in ${decision.relaunchInMs} ms`);
        const interrupted = await this.#backoff(decision.relaunchInMs);
        if (interrupted === 'stop') break;
      }
      this.#setState('stopped', 'stop');
      this.#settleWaiters(new Error('the supervisor was stopped before the model server was ready'));
    } catch (error) {
      const fatal =
        error instanceof SupervisorFatalError
          ? error
          : error instanceof RunDirError
            ? new SupervisorFatalError('run_dir_unusable', error.message)
            : new SupervisorFatalError('spawn_failed', String((error as Error).message ?? error));
      this.#fatal = fatal;
      this.#logger.error({ event: 'supervisor_fatal', reason: fatal.reason, logLines: this.recentLogLines.slice(-20) }, fatal.message);
      this.#setState('fatal', fatal.reason, fatal.message);
      this.#settleWaiters(fatal);
    }
  }

  /** The restart budget is spent: waits `coolDownMs` (a stop or a manual restart cuts it short), then the budget starts again. */
  async #coolDown(spent: string, coolDownMs: number): Promise<'elapsed' | 'stop' | 'now'> {
    this.#coolingDownUntil = this.#now() + coolDownMs;
    const at = new Date(this.#coolingDownUntil).toISOString();
    this.#logger.error({ event: 'restart_budget_exhausted', coolDownMs, until: at }, `${spent}; mlx-guard tries it again in ${coolDownMs / 1000} s (restart.coolDownMs), or at once on a manual restart`);
    this.#setState('backoff', 'restart_budget_exhausted', `restart budget spent; trying again at ${at}`);
    try {
      return await this.#backoff(coolDownMs);
    } finally {
      this.#coolingDownUntil = undefined;
      this.#policy.reset();
    }
  }

  /** Waits out a backoff delay; a stop or a manual restart cuts it short. */
  async #backoff(delayMs: number): Promise<'elapsed' | 'stop' | 'now'> {
    const trigger = this.#nextLaunchTrigger();
    const result = await within(trigger.promise.then((t) => (t.cause === 'stop' ? ('stop' as const) : ('now' as const))), delayMs, 'elapsed' as const);
    trigger.cancel();
    return result;
  }

  #nextLaunchTrigger(): { promise: Promise<LaunchTrigger>; cancel(): void } {
    let resolve!: (trigger: LaunchTrigger) => void;
    const promise = new Promise<LaunchTrigger>((r) => (resolve = r));
    this.#triggered = (trigger) => {
      this.#triggered = undefined;
      resolve(trigger);
    };
    if (this.#pendingLaunchTrigger || this.#stopRequested) {
      const pending = this.#pendingLaunchTrigger ?? { cause: 'stop', detail: 'stop requested' };
      this.#pendingLaunchTrigger = undefined;
      this.#triggered(pending);
    }
    return { promise, cancel: () => (this.#triggered = undefined) };
  }

  #remember(line: string): void {
    this.#logLines.push(line);
    if (this.#logLines.length > this.options.logLines) this.#logLines.splice(0, this.#logLines.length - this.options.logLines);
  }

  /** One launch, from spawn to the trigger that ends it (see `Launch`). */
  async #launchOnce(): Promise<LaunchEnd> {
    const plan = this.#plan!;
    const port = this.options.port ?? (await freePort(this.options.host));
    const trigger = this.#nextLaunchTrigger();
    const launching = `${plan.backend} on port ${port}`;
    if (this.#state === 'starting') {
      this.#detail = launching;
      this.#logger.info({ event: 'model_server_launch', backend: plan.backend, port }, `launching the model server: ${launching}`);
    } else this.#setState('starting', 'launch', launching);
    const launch = new Launch(plan, port, {
      options: this.options,
      logger: this.#logger,
      now: this.#now,
      records: this.#records,
      journal: this.journal,
      remember: (line) => this.#remember(line),
      end: (t) => this.#fire(t),
      loading: (progress) => {
        if (this.#state !== 'starting') return;
        this.#detail = `loading: ${progress.text}`;
        this.#progressListeners.emit(progress);
      },
    });
    this.#launch = launch;
    const { child } = launch;
    const recorded = await launch.record();
    if (recorded !== true) {
      launch.retire();
      await child.stop(this.options.stop.graceMs);
      trigger.cancel();
      this.#launch = undefined;
      return { kind: 'fatal', error: new SupervisorFatalError('run_dir_unusable', `could not record the model server in ${this.options.runDir} (${recorded}), so it was stopped: a crash of mlx-guard would leave it running. Fix the directory or choose another with runDir.`) };
    }

    const ended = trigger.promise;
    let rerecorded: Promise<void> | undefined;
    const first = await launch.whenReady(ended);
    let end: LaunchTrigger;
    if (first === 'ready') {
      this.#lastTimeToReadyMs = this.#now() - launch.startedAt;
      this.#endpoint = launch.endpoint;
      this.#lost = new AbortController();
      // One listener per request in flight to this child: admission bounds them, not this limit.
      setMaxListeners(Infinity, this.#lost.signal);
      // Made once for this child: every request reads it.
      this.#serving = { ...launch.endpoint, lost: this.#lost.signal };
      this.#policy.noteReady();
      this.#hasServed = true;
      this.#setState('ready', 'canary_passed', `time to ready ${this.#lastTimeToReadyMs} ms`);
      this.#settleWaiters();
      launch.watch();
      // A version manager's shim (pyenv, asdf, uv) execs into the real server after the first
      // record was taken: what runs now is recorded again, or a later sweep would not know it.
      // Not awaited here: the launch must be retired as soon as something ends it, or a late
      // second trigger (the exit after a zombie line) would cut the next backoff short.
      rerecorded = launch.record().then((result) => {
        if (result !== true) this.#logger.warn({ event: 'record_failed', reason: result }, `could not record the model server again once ready (${result}); if mlx-guard is killed, the next start may not recognise it`);
      });
      end = await ended;
    } else {
      end = first;
    }
    launch.retire();
    this.#endpoint = undefined;
    this.#serving = undefined;
    const wasStarting = this.#state === 'starting';
    const seen = () => launch.seen(wasStarting, this.#hasServed, [...this.#logLines]);
    // A child that exited is judged now (its exit is in), so that the requests it was serving
    // learn the real cause (a Metal abort, say, not "exited") and can be blamed for it.
    const judgedEarly = end.cause === 'exit' ? this.#judge({ cause: 'exit', detail: end.detail }, await child.exited, seen()) : undefined;
    const loss = judgedEarly?.kind === 'restart' ? judgedEarly : end;
    // The journal gives the requests in flight their verdicts first; a restart that a request
    // now known as poison caused spends no budget (it will not be sent again). Then the requests
    // sent to this child end now with the reason, not when their deadlines pass.
    const judged = this.journal.lost(loss.cause);
    this.#inFlightAtLoss = judged.inFlight;
    if (judged.poisonCaused) {
      // This restart is free, and so was the one the request caused the first time.
      this.#unbudgetedRelaunch = true;
      this.#policy.refund();
    }
    this.#lost?.abort(new ModelServerLostError(loss.cause, loss.detail));
    this.#lost = undefined;

    if (end.cause !== 'exit' || !child.hasExited) this.#setState('stopping', end.cause, end.detail);
    const exit = await child.stop(this.options.stop.graceMs);
    if (exit.unkillable) {
      this.#logger.error({ event: 'child_unkillable', childPid: child.pid }, `model server ${child.pid} did not exit even after SIGKILL; relaunching beside it`);
    }
    trigger.cancel();
    await rerecorded;
    await this.#records.remove(process.pid).catch(() => undefined);
    this.#launch = undefined;
    if (end.cause === 'stop') return { kind: 'stop' };
    return judgedEarly ?? this.#judge({ cause: end.cause, detail: end.detail }, exit, seen());
  }

  /** The verdict on an ended launch (launch-verdict.ts), as the lifecycle acts on it. */
  #judge(end: { cause: RestartCause; detail: string }, exit: ChildExit, seen: LaunchSeen): LaunchEnd {
    const verdict = judgeLaunchEnd(end, exit, seen);
    return verdict.kind === 'fatal' ? { kind: 'fatal', error: new SupervisorFatalError(verdict.reason, verdict.message) } : verdict;
  }
}
