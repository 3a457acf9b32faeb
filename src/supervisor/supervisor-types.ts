import type { Endpoint } from './canary.js';
import type { RequestInfo } from '../journal/index.js';
import type { FatalReason } from './errors.js';
import type { HookInfo } from './heartbeat.js';
import type { ChildExit } from './model-server-process.js';

// The supervisor's public types, apart from its code: the modules it is built from name them too.

export type SupervisorState = 'stopped' | 'starting' | 'ready' | 'degraded' | 'stopping' | 'backoff' | 'fatal';

export type RestartCause =
  | 'exit'
  | 'crash'
  | 'zombie'
  | 'metal_abort'
  | 'bind_failure'
  | 'load_failed'
  | 'startup_timeout'
  | 'startup_stall'
  | 'frozen'
  | 'wedged'
  | 'liveness'
  | 'breaker_open'
  | 'manual';

export interface Transition {
  from: SupervisorState;
  to: SupervisorState;
  /** Why: a restart cause, a fatal reason, or what the step is. */
  cause: string;
  detail?: string;
  at: number;
}

export interface RestartEvent {
  cause: RestartCause;
  detail: string;
  exit?: ChildExit;
  /** Milliseconds until the relaunch (0 for a manual restart). */
  relaunchInMs: number;
  /** The child's last log lines, oldest first. */
  logLines: string[];
  /** The requests in flight when the server was lost (no prompt text): who may be to blame. */
  inFlight: RequestInfo[];
}


/** Download or load progress the model server printed while starting. */
export interface Progress {
  percent: number;
  text: string;
  /** The model's first download (before the launch) or its loading (default). */
  phase?: 'download' | 'load';
}

export interface SupervisorStatus {
  state: SupervisorState;
  detail: string;
  /** The model server run: as configured until the launch plan decides (auto picks one). */
  backend: string;
  pid: number | undefined;
  baseUrl: string | undefined;
  restarts: Partial<Record<RestartCause, number>>;
  lastTimeToReadyMs: number | undefined;
  fatal: { reason: FatalReason; message: string } | undefined;
  /** Set while a server that spent its restart budget waits to be tried again (`restart.coolDownMs`): when. */
  coolingDownUntil: number | undefined;
}

/** Which functions of the model server the heartbeat hooked, and how often each has fired. */
export interface HeartbeatStatus {
  /** The mlx_lm (or stand-in) version the expectations are for. */
  version: string;
  hooks: Array<HookInfo & { fired: number }>;
  missing: string[];
}

/** A ready model server to send requests to; `lost` aborts once it stops serving (its restart or a stop). */
export interface Serving extends Endpoint {
  lost: AbortSignal;
}

/**
 * Work before the first launch of a chosen backend, such as a model's first download; what it
 * reports becomes the state's detail (what a client's 503 says meanwhile) and a progress event.
 * Throws a SupervisorFatalError to give up.
 */
export type Prepare = (backend: 'mlx' | 'standin' | 'command', report: (progress: Progress) => void) => Promise<void>;
