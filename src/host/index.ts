export { Supervisor } from './supervisor.js';
export type { Progress, RestartCause, RestartEvent, SupervisorState, SupervisorStatus, Transition } from './supervisor.js';
export { SupervisorFatalError } from './errors.js';
export type { FatalReason } from './errors.js';
export { supervisorOptionsSchema } from './options.js';
export type { SupervisorOptions, ResolvedSupervisorOptions } from './options.js';
export { installShutdownHandlers } from './shutdown.js';
export { showProgress } from './progress-display.js';
