export { Supervisor } from './supervisor.js';
export { canary, type Endpoint } from './canary.js';
export type { HeartbeatStatus, Prepare, Progress, RestartCause, RestartEvent, Serving, SupervisorState, SupervisorStatus, Transition } from './supervisor-types.js';
export { ModelServerLostError, SupervisorFatalError } from './errors.js';
export type { FatalReason } from './errors.js';
export { supervisorOptionsSchema } from './options.js';
export type { SupervisorOptions, ResolvedSupervisorOptions } from './options.js';
export { installShutdownHandlers, STOP_SIGNALS } from './shutdown.js';
export { showProgress } from './progress-display.js';
