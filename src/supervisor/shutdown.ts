import type { Logger } from '../observability/logger.js';
import type { Supervisor } from './supervisor.js';

/** What a service manager or a closing terminal sends to stop a process. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * On SIGINT, SIGTERM or SIGHUP, stop the model server before exiting (a detached child is not covered by
 * execa's cleanup). A second signal while stopping exits at once; the host's stdin watchdog
 * still ends the child then.
 */
export function installShutdownHandlers(supervisor: Supervisor, logger: Logger, exit: (code: number) => void = (code) => process.exit(code)): () => void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ event: 'shutdown_forced', signal }, `${signal} again: exiting now`);
      exit(1);
      return;
    }
    stopping = true;
    logger.info({ event: 'shutdown', signal }, `${signal}: stopping the model server, then exiting`);
    supervisor.stop().then(
      () => exit(0),
      (error: unknown) => {
        logger.error({ event: 'shutdown_failed', err: error }, 'stopping the model server failed');
        exit(1);
      },
    );
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  return () => {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  };
}
