import { setMaxListeners } from 'node:events';
import { Listeners, type CircuitBreaker, type Unsubscribe } from '../breaker/index.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import { unlessAborted, within } from '../util/deadlines.js';
import { canary } from './canary.js';
import { ChildRecords, inspectProcess, RunDirError, type ProcessIdentity } from './child-records.js';
import { awaitReady } from './readiness.js';
import { ModelServerLostError, SupervisorFatalError } from './errors.js';
import type { HostFatal } from './exit-codes.js';
import { readHeartbeat, readHooks, type Heartbeat, type HostHooks } from './heartbeat.js';
import { planLaunch, type LaunchPlan } from './launch-plan.js';
import { watchLiveness } from './liveness.js';
import { describeExit, judgeLaunchEnd, type LaunchSeen } from './launch-verdict.js';
import { classifyLine } from './log-classifier.js';
import { ModelServerProcess, type ChildExit } from './model-server-process.js';
import { resolveSupervisorOptions, type ResolvedSupervisorOptions, type SupervisorOptions } from './options.js';
import { freePort } from './ports.js';
import { RestartPolicy } from './restart-policy.js';
import type { HeartbeatStatus, Prepare, Progress, RequestInfo, RequestTracker, RestartCause, RestartEvent, Serving, SupervisorState, SupervisorStatus, Transition } from './supervisor-types.js';

interface Trigger {
  cause: RestartCause | 'stop';
  detail: string;
}

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
  #child: ModelServerProcess | undefined;
  #baseUrl: string | undefined;
  #lastTimeToReadyMs: number | undefined;
  #fatal: SupervisorFatalError | undefined;
  #run: Promise<void> | undefined;
  /** Resolves the current launch's wait with the first trigger; replaced per launch. */
  #triggered: ((trigger: Trigger) => void) | undefined;
  #pendingTrigger: Trigger | undefined;
  #readyWaiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  /** mlx-guard's requests to the model server in flight, and the last progress any of them made. */
  readonly #inflight = new Set<RequestInfo>();
  /** The requests in flight when the current launch ended, for its restart event. */
  #inFlightAtLoss: RequestInfo[] = [];
  #lastProgressAt = 0;
  /** When the first of the requests now in flight began: no progress is expected before it. */
  #busySince = 0;
  #heartbeat: Heartbeat | undefined;
  #hooks: HostHooks | undefined;
  #lost: AbortController | undefined;
  readonly #records: ChildRecords;
  #owner: ProcessIdentity | undefined;
  #breakerOpenTimer: NodeJS.Timeout | undefined;
  #stopRequested = false;
  /** The next restart spends no budget: a manual one, or one a known poison request caused. */
  #unbudgetedRelaunch = false;

  /** Runs once the backend is chosen and before the first launch (a model's first download): its time is not the start deadline's. */
  readonly #prepare: Prepare | undefined;

  constructor(options: SupervisorOptions = {}, dependencies: { logger?: Logger; now?: () => number; random?: () => number; prepare?: Prepare } = {}) {
    this.options = resolveSupervisorOptions(options);
    this.#prepare = dependencies.prepare;
    this.#logger = dependencies.logger ?? silentLogger;
    this.#now = dependencies.now ?? Date.now;
    this.#policy = new RestartPolicy(this.options.restart, this.#now, dependencies.random);
    this.#records = new ChildRecords(this.options.runDir);
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
    if ((this.#state !== 'ready' && this.#state !== 'degraded') || !this.#baseUrl || !this.#lost) return undefined;
    return { baseUrl: this.#baseUrl, lost: this.#lost.signal };
  }

  get status(): SupervisorStatus {
    return {
      state: this.#state,
      detail: this.#detail,
      backend: this.#plan?.backend ?? this.options.backend,
      pid: this.#child?.pid,
      baseUrl: this.baseUrl,
      restarts: { ...this.#restartCounts },
      lastTimeToReadyMs: this.#lastTimeToReadyMs,
      fatal: this.#fatal ? { reason: this.#fatal.reason, message: this.#fatal.message } : undefined,
    };
  }

  /**
   * The host's heartbeat hooks in the running model server (none for a `command` backend). Apart
   * from `status`, which refusals read on the request path: this one builds a list.
   */
  get heartbeat(): HeartbeatStatus | undefined {
    const hooks = this.#hooks;
    if (!hooks) return undefined;
    const fired = this.#heartbeat?.fired ?? {};
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

  /**
   * The restart now under way was caused by a request already blamed for an earlier one: it
   * spends no restart budget (the request will not be sent again). Call it while the lost signal
   * is being handled; it applies to the next restart decision only.
   */
  forgiveRestart(): void {
    if (this.#state === 'ready' || this.#state === 'degraded' || this.#state === 'stopping') this.#unbudgetedRelaunch = true;
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

  /** When a request to the model server last made progress (headers, a keepalive, a token). */
  get lastProgressAt(): number {
    return this.#lastProgressAt;
  }

  /**
   * Follows one request to the model server. The server is alive while any request makes
   * progress; requests in flight with none for `liveness.stallMs` raise a suspicion.
   */
  trackRequest(info: RequestInfo = { id: '', digest: '', bodyBytes: 0 }): RequestTracker {
    const entry = { ...info };
    if (this.#inflight.size === 0) this.#busySince = this.#now();
    this.#inflight.add(entry);
    return {
      progress: () => {
        this.#lastProgressAt = this.#now();
      },
      end: () => {
        this.#inflight.delete(entry);
      },
    };
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
    }
    const ready = this.#whenReady();
    this.#run ??= this.#lifecycle().finally(() => (this.#run = undefined));
    return ready;
  }

  /** Stops the child (SIGTERM, SIGKILL after the grace period) and waits for it to exit. */
  async stop(): Promise<void> {
    this.#stopRequested = true;
    this.#fire({ cause: 'stop', detail: 'stop requested' });
    await this.#run;
    this.#stopRequested = false;
  }

  /** Restarts the child now, without backoff; also revives a fatal supervisor. */
  async restart(cause: RestartCause = 'manual'): Promise<void> {
    if (this.#state === 'fatal' || this.#state === 'stopped') return this.start();
    this.#unbudgetedRelaunch = cause === 'manual';
    const ready = this.#nextReady();
    this.#fire({ cause, detail: `${cause} restart requested` });
    return ready;
  }

  /**
   * Follows the inference breaker: open means degraded; open for longer than
   * `restart.whenOpenForMs` with a failing canary means restart; a restart that reaches ready
   * resets the breaker, so clients are not refused by the memory of the old process.
   */
  watchBreaker(breaker: CircuitBreaker): Unsubscribe {
    const check = async (): Promise<void> => {
      this.#breakerOpenTimer = undefined;
      if (breaker.getState() === 'closed' || !this.#baseUrl || (this.#state !== 'ready' && this.#state !== 'degraded')) return;
      const judged = this.#child;
      const result = await canary(this.#baseUrl, this.options.liveness.canaryTimeoutMs);
      // While the canary ran, the child may have been replaced (liveness, exit): the verdict was
      // on the old one, and must not end its successor mid-start.
      if (this.#child !== judged) return;
      if (!result.ok) this.#fire({ cause: 'breaker_open', detail: `inference breaker open ${this.options.restart.whenOpenForMs} ms and the canary failed: ${result.reason}` });
      else this.#armBreakerTimer(check);
    };
    const offState = breaker.onStateChange(({ toState }) => {
      if (toState === 'closed') {
        clearTimeout(this.#breakerOpenTimer);
        this.#breakerOpenTimer = undefined;
        if (this.#state === 'degraded') this.#setState('ready', 'breaker_closed');
        return;
      }
      if (this.#state === 'ready') this.#setState('degraded', 'breaker_open', `inference breaker ${toState}`);
      if (this.#breakerOpenTimer === undefined) this.#armBreakerTimer(check);
    });
    const offReady = this.onTransition(({ to, from }) => {
      if (to === 'ready' && from === 'starting') breaker.reset();
    });
    return () => {
      offState();
      offReady();
      clearTimeout(this.#breakerOpenTimer);
    };
  }

  #armBreakerTimer(check: () => Promise<void>): void {
    this.#breakerOpenTimer = setTimeout(() => void check(), this.options.restart.whenOpenForMs);
    this.#breakerOpenTimer.unref();
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

  #fire(trigger: Trigger): void {
    if (this.#triggered) this.#triggered(trigger);
    else this.#pendingTrigger ??= trigger;
  }

  async #lifecycle(): Promise<void> {
    try {
      // Starting from the first moment: mlx-guard's port is open meanwhile, and says so.
      this.#setState('starting', 'start', 'choosing and preparing the model server');
      this.#plan = await planLaunch(this.options);
      if (this.#plan.notice) this.#logger.warn({ event: 'backend_choice', backend: this.#plan.backend }, this.#plan.notice);
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
          throw new SupervisorFatalError(
            'restart_budget_exhausted',
            `the model server needed ${decision.restartsInWindow} restarts within ${this.options.restart.windowMs / 1000} s (last: ${end.cause}: ${end.detail}); mlx-guard stopped restarting it. Check the log lines above, then restart it by hand.`,
          );
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

  /** Waits out a backoff delay; a stop or a manual restart cuts it short. */
  async #backoff(delayMs: number): Promise<'elapsed' | 'stop' | 'now'> {
    const trigger = this.#nextTrigger();
    const result = await within(trigger.promise.then((t) => (t.cause === 'stop' ? ('stop' as const) : ('now' as const))), delayMs, 'elapsed' as const);
    trigger.cancel();
    return result;
  }

  #nextTrigger(): { promise: Promise<Trigger>; cancel(): void } {
    let resolve!: (trigger: Trigger) => void;
    const promise = new Promise<Trigger>((r) => (resolve = r));
    this.#triggered = (trigger) => {
      this.#triggered = undefined;
      resolve(trigger);
    };
    if (this.#pendingTrigger || this.#stopRequested) {
      const pending = this.#pendingTrigger ?? { cause: 'stop', detail: 'stop requested' };
      this.#pendingTrigger = undefined;
      this.#triggered(pending);
    }
    return { promise, cancel: () => (this.#triggered = undefined) };
  }

  #remember(line: string): void {
    this.#logLines.push(line);
    if (this.#logLines.length > this.options.logLines) this.#logLines.splice(0, this.#logLines.length - this.options.logLines);
  }

  /** One launch, from spawn to the trigger that ends it. */
  async #launchOnce(): Promise<LaunchEnd> {
    const plan = this.#plan!;
    const port = this.options.port ?? (await freePort(this.options.host));
    const baseUrl = `http://${this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host}:${port}`;
    const trigger = this.#nextTrigger();
    // Triggers from this child count only while its launch lasts: a late exit of a process
    // already being replaced must not cut the next backoff short.
    let current = true;
    const fire = (t: Trigger) => {
      if (current) this.#fire(t);
    };
    let lastOutputAt = this.#now();
    let sawMetal = false;
    let sawBindFailure = false;
    let hostFatal: HostFatal | undefined;
    let loadedEvent: (() => void) | undefined;

    const launching = `${plan.backend} on port ${port}`;
    if (this.#state === 'starting') {
      this.#detail = launching;
      this.#logger.info({ event: 'model_server_launch', backend: plan.backend, port }, `launching the model server: ${launching}`);
    } else this.#setState('starting', 'launch', launching);
    const startedAt = this.#now();
    const child = new ModelServerProcess(plan, port, {
      onLine: (stream, line) => {
        lastOutputAt = this.#now();
        this.#remember(line);
        this.#logger.info({ event: 'child_output', childPid: child.pid, stream }, line);
        const meaning = classifyLine(line);
        if (meaning.kind === 'zombie') fire({ cause: 'zombie', detail: 'the generation thread died (Exception in thread … (_generate))' });
        else if (meaning.kind === 'metal_abort') sawMetal = true;
        else if (meaning.kind === 'bind_failure') {
          sawBindFailure = true;
          fire({ cause: 'bind_failure', detail: line });
        } else if (meaning.kind === 'progress' && this.#state === 'starting') {
          this.#detail = `loading: ${meaning.text}`;
          this.#progressListeners.emit({ percent: meaning.percent, text: meaning.text });
        }
      },
      onEvent: (event) => {
        lastOutputAt = this.#now();
        const heartbeat = readHeartbeat(event, lastOutputAt);
        if (heartbeat) {
          this.#heartbeat = heartbeat;
          return;
        }
        const hooks = readHooks(event);
        if (hooks) {
          this.#hooks = hooks;
          if (hooks.missing.length > 0) {
            this.#logger.warn(
              { event: 'heartbeat_hooks_missing', version: hooks.version, missing: hooks.missing },
              `mlx_lm ${hooks.version} lacks ${hooks.missing.join(', ')}: stalls inside its generation loop are caught later, by request progress and canaries (a frozen process still is at once)`,
            );
          }
          return;
        }
        this.#logger.debug({ event: 'child_event', childPid: child.pid, ...event }, `model server event ${String(event.event)}`);
        if (event.event === 'listening' || event.event === 'model_loaded') loadedEvent?.();
        if (event.event === 'fatal') hostFatal = { reason: String(event.reason), ...(typeof event.error === 'string' ? { error: event.error } : {}) };
      },
    });
    this.#child = child;
    this.#heartbeat = undefined;
    this.#hooks = undefined;
    void child.exited.then((exit) => fire({ cause: 'exit', detail: describeExit(exit) }));
    const recorded = await this.#record(child, port);
    if (recorded !== true) {
      current = false;
      await child.stop(this.options.stop.graceMs);
      trigger.cancel();
      this.#child = undefined;
      return { kind: 'fatal', error: new SupervisorFatalError('run_dir_unusable', `could not record the model server in ${this.options.runDir} (${recorded}), so it was stopped: a crash of mlx-guard would leave it running. Fix the directory or choose another with runDir.`) };
    }

    const ended = trigger.promise;
    const ready = awaitReady(baseUrl, this.options.startup, { startedAt, lastOutputAt: () => lastOutputAt, onWake: (wake) => (loadedEvent = wake), ended, now: this.#now });
    const first = await Promise.race([ready, ended]);

    let end: Trigger;
    if (first === 'ready') {
      this.#lastTimeToReadyMs = this.#now() - startedAt;
      this.#baseUrl = baseUrl;
      this.#lost = new AbortController();
      // One listener per request in flight to this child: admission bounds them, not this limit.
      setMaxListeners(Infinity, this.#lost.signal);
      this.#policy.noteReady();
      this.#setState('ready', 'canary_passed', `time to ready ${this.#lastTimeToReadyMs} ms`);
      this.#settleWaiters();
      const liveness = watchLiveness(
        baseUrl,
        this.options.liveness,
        plan.viaHost,
        {
          heartbeat: () => this.#heartbeat,
          inflight: () => this.#inflight.size,
          lastProgressAt: () => Math.max(this.#lastProgressAt, this.#busySince),
          onDead: (cause, detail) => fire({ cause, detail }),
          onSuspicion: (detail, confirmed) =>
            this.#logger.warn({ event: 'liveness_suspicion', detail, confirmed }, `${detail}; a canary ${confirmed ? 'failed: restarting' : 'passed: the server generates'}`),
        },
        this.#now,
      );
      end = await ended;
      liveness.stop();
    } else {
      end = first as Trigger;
    }
    current = false;
    this.#baseUrl = undefined;
    const wasStarting = this.#state === 'starting';
    const seen = (): LaunchSeen => ({ wasStarting, sawMetal, sawBindFailure, hostFatal, lastLines: [...this.#logLines], fixedPort: this.options.port });
    // A child that exited is judged now (its exit is in), so that the requests it was serving
    // learn the real cause (a Metal abort, say, not "exited") and can be blamed for it.
    const judgedEarly = end.cause === 'exit' ? this.#judge({ cause: 'exit', detail: end.detail }, await child.exited, seen()) : undefined;
    const loss = judgedEarly?.kind === 'restart' ? judgedEarly : end;
    // Requests sent to this child end now with the reason, not when their deadlines pass.
    this.#inFlightAtLoss = [...this.#inflight];
    this.#lost?.abort(new ModelServerLostError(loss.cause, loss.detail));
    this.#lost = undefined;

    if (end.cause !== 'exit' || !child.hasExited) this.#setState('stopping', end.cause, end.detail);
    const exit = await child.stop(this.options.stop.graceMs);
    if (exit.unkillable) {
      this.#logger.error({ event: 'child_unkillable', childPid: child.pid }, `model server ${child.pid} did not exit even after SIGKILL; relaunching beside it`);
    }
    trigger.cancel();
    await this.#records.remove(process.pid).catch(() => undefined);
    this.#child = undefined;
    if (end.cause === 'stop') return { kind: 'stop' };
    return judgedEarly ?? this.#judge({ cause: end.cause, detail: end.detail }, exit, seen());
  }

  /** Records the child so that a later start can end it if this process dies without stopping it; true, or why not. */
  async #record(child: ModelServerProcess, port: number): Promise<true | string> {
    if (child.pid === undefined) return true;
    try {
      this.#owner ??= await inspectProcess(process.pid);
      const identity = await inspectProcess(child.pid);
      // A child that is already gone (a bad flag, say) has nothing to record; its exit tells the rest.
      if (!identity && (await within(child.exited.then(() => true), 1_000, false))) return true;
      if (!this.#owner || !identity) return '`ps` could not describe the processes';
      await this.#records.write({ version: 1, owner: this.#owner, child: identity, port });
      return true;
    } catch (error) {
      return (error as Error).message;
    }
  }

  /** The verdict on an ended launch (launch-verdict.ts), as the lifecycle acts on it. */
  #judge(end: { cause: RestartCause; detail: string }, exit: ChildExit, seen: LaunchSeen): LaunchEnd {
    const verdict = judgeLaunchEnd(end, exit, seen);
    return verdict.kind === 'fatal' ? { kind: 'fatal', error: new SupervisorFatalError(verdict.reason, verdict.message) } : verdict;
  }
}
