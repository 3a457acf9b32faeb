import { randomBytes } from 'node:crypto';
import type { Journal } from '../journal/index.js';
import type { Logger } from '../observability/logger.js';
import { within } from '../util/deadlines.js';
import { inspectProcess, type ChildRecords, type ProcessIdentity } from './child-records.js';
import type { HostFatal } from './exit-codes.js';
import { readHeartbeat, readHooks, type Heartbeat, type HostHooks } from './heartbeat.js';
import type { LaunchPlan } from './launch-plan.js';
import { describeExit, type LaunchSeen } from './launch-verdict.js';
import { watchLiveness } from './liveness.js';
import { classifyLine } from './log-classifier.js';
import { ModelServerProcess } from './model-server-process.js';
import type { ResolvedSupervisorOptions } from './options.js';
import { awaitReady } from './readiness.js';
import type { Endpoint } from './canary.js';
import type { Progress, RestartCause } from './supervisor-types.js';

/** Something that ends a launch: a reason to restart, or a stop. */
export interface LaunchTrigger {
  cause: RestartCause | 'stop';
  detail: string;
}

/** What a launch needs of its supervisor. */
export interface LaunchContext {
  readonly options: ResolvedSupervisorOptions;
  readonly logger: Logger;
  readonly now: () => number;
  readonly records: ChildRecords;
  readonly journal: Journal;
  /** A line of the child's output, kept for the restart event. */
  remember(line: string): void;
  /** This launch must end (the supervisor acts on the first trigger). */
  end(trigger: LaunchTrigger): void;
  /** The child reported loading progress. */
  loading(progress: Progress): void;
}

/** mlx-guard's own identity, read once: a child record names its owner. */
let owner: ProcessIdentity | undefined;

/**
 * One launch of the model server, from spawn to the moment it is retired: the child spawned and
 * recorded (so that a later start ends it if mlx-guard dies without stopping it), its output and
 * host events read (the zombie line, a Metal abort, a bind failure, loading progress, heartbeats
 * and the hooks report), its readiness awaited, its liveness watched once it serves. It reports
 * what ends it; what an ending means (restart, give up) is the supervisor's to decide.
 */
export class Launch {
  readonly child: ModelServerProcess;
  /** Where it answers, and the key it requires (a fresh one per launch, given in its environment). */
  readonly endpoint: Endpoint;
  readonly startedAt: number;
  #lastOutputAt: number;
  #heartbeat: Heartbeat | undefined;
  #hooks: HostHooks | undefined;
  #sawMetal = false;
  #sawBindFailure = false;
  #hostFatal: HostFatal | undefined;
  #loaded: (() => void) | undefined;
  /** Triggers from this child count only while its launch lasts: a late exit of a process already being replaced must not cut the next backoff short. */
  #current = true;
  #liveness: { stop(): void } | undefined;

  constructor(
    readonly plan: LaunchPlan,
    readonly port: number,
    readonly context: LaunchContext,
  ) {
    const { host } = context.options;
    const baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const apiKey = plan.apiKeyEnv === undefined ? undefined : randomBytes(24).toString('base64url');
    this.endpoint = apiKey === undefined ? { baseUrl } : { baseUrl, apiKey };
    this.startedAt = this.#lastOutputAt = context.now();
    const env = apiKey === undefined ? plan.env : { ...plan.env, [plan.apiKeyEnv!]: apiKey };
    this.child = new ModelServerProcess({ ...plan, env }, port, { onLine: (stream, line) => this.#line(stream, line), onEvent: (event) => this.#event(event) });
    void this.child.exited.then((exit) => this.#end({ cause: 'exit', detail: describeExit(exit) }));
  }

  get heartbeat(): Heartbeat | undefined {
    return this.#heartbeat;
  }

  get hooks(): HostHooks | undefined {
    return this.#hooks;
  }

  #end(trigger: LaunchTrigger): void {
    if (this.#current) this.context.end(trigger);
  }

  #line(stream: string, line: string): void {
    this.#lastOutputAt = this.context.now();
    this.context.remember(line);
    this.context.logger.info({ event: 'child_output', childPid: this.child.pid, stream }, line);
    const meaning = classifyLine(line);
    if (meaning.kind === 'zombie') this.#end({ cause: 'zombie', detail: 'the generation thread died (Exception in thread … (_generate))' });
    else if (meaning.kind === 'metal_abort') this.#sawMetal = true;
    else if (meaning.kind === 'bind_failure') {
      this.#sawBindFailure = true;
      this.#end({ cause: 'bind_failure', detail: line });
    } else if (meaning.kind === 'progress') this.context.loading({ percent: meaning.percent, text: meaning.text });
  }

  #event(event: Record<string, unknown>): void {
    this.#lastOutputAt = this.context.now();
    const heartbeat = readHeartbeat(event, this.#lastOutputAt);
    if (heartbeat) {
      this.#heartbeat = heartbeat;
      return;
    }
    const hooks = readHooks(event);
    if (hooks) {
      this.#hooks = hooks;
      if (hooks.missing.length > 0) {
        this.context.logger.warn(
          { event: 'heartbeat_hooks_missing', version: hooks.version, missing: hooks.missing },
          `mlx_lm ${hooks.version} lacks ${hooks.missing.join(', ')}: stalls inside its generation loop are caught later, by request progress and canaries (a frozen process still is at once)`,
        );
      }
      return;
    }
    this.context.logger.debug({ event: 'child_event', childPid: this.child.pid, ...event }, `model server event ${String(event.event)}`);
    if (event.event === 'listening' || event.event === 'model_loaded') this.#loaded?.();
    if (event.event === 'fatal') this.#hostFatal = { reason: String(event.reason), ...(typeof event.error === 'string' ? { error: event.error } : {}) };
  }

  /** Records the child so that a later start can end it if this process dies without stopping it; true, or why not. */
  async record(): Promise<true | string> {
    const { child } = this;
    if (child.pid === undefined) return true;
    try {
      owner ??= await inspectProcess(process.pid);
      const identity = await inspectProcess(child.pid);
      // A child that is already gone (a bad flag, say) has nothing to record; its exit tells the rest.
      if (!identity && (await within(child.exited.then(() => true), 1_000, false))) return true;
      if (!owner || !identity) return '`ps` could not describe the processes';
      await this.context.records.write({ version: 1, owner, child: identity, port: this.port });
      return true;
    } catch (error) {
      return (error as Error).message;
    }
  }

  /** Ready (a canary answered), or what ended the launch first. */
  whenReady(ended: Promise<LaunchTrigger>): Promise<'ready' | LaunchTrigger> {
    const { options, now } = this.context;
    const ready = awaitReady(this.endpoint, options.startup, { startedAt: this.startedAt, lastOutputAt: () => this.#lastOutputAt, onWake: (wake) => (this.#loaded = wake), ended, now });
    return Promise.race([ready, ended]);
  }

  /** Watches the serving child's liveness (heartbeats, the journal's progress, canaries) until retired. */
  watch(): void {
    const { options, journal, logger, now } = this.context;
    this.#liveness = watchLiveness(
      this.endpoint,
      options.liveness,
      this.plan.viaHost,
      {
        heartbeat: () => this.#heartbeat,
        inflight: () => journal.inFlight,
        lastProgressAt: () => Math.max(journal.lastProgressAt, journal.busySince),
        onDead: (cause, detail) => this.#end({ cause, detail }),
        onSuspicion: (detail, confirmed) => logger.warn({ event: 'liveness_suspicion', detail, confirmed }, `${detail}; a canary ${confirmed ? 'failed: restarting' : 'passed: the server generates'}`),
      },
      now,
    );
  }

  /** Its triggers stop counting and its watch ends: the supervisor now ends the child. */
  retire(): void {
    this.#current = false;
    this.#liveness?.stop();
  }

  /** What the launch saw, for the verdict on how it ended (see `judgeLaunchEnd`). */
  seen(wasStarting: boolean, hasServed: boolean, lastLines: string[]): LaunchSeen {
    return { wasStarting, hasServed, sawMetal: this.#sawMetal, sawBindFailure: this.#sawBindFailure, hostFatal: this.#hostFatal, lastLines, fixedPort: this.context.options.port };
  }
}
