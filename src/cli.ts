#!/usr/bin/env node
// The `mlx-guard` command (`npm start` runs `mlx-guard start`).
import { ConfigError, describeOptions, loadConfig } from './config.js';
import { SupervisorFatalError, showProgress } from './host/index.js';
import { createLogger } from './observability/logger.js';
import { createSidecar } from './sidecar.js';

const usage = `mlx-guard: a resilience sidecar for mlx_lm.server

Usage:
  mlx-guard start [options]   launch the model server and serve its OpenAI API through mlx-guard
  mlx-guard --help            this text

Options (flag, environment variable, meaning):
${describeOptions()}
`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help' || rest.includes('--help')) {
    process.stdout.write(usage);
    return 0;
  }
  if (command !== 'start') {
    process.stderr.write(`mlx-guard: unknown command "${command}". Run "mlx-guard --help" for the commands.\n`);
    return 2;
  }
  let config;
  try {
    config = loadConfig(rest);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`mlx-guard: ${error.message}\n`);
    return 2;
  }
  const logger = createLogger({ level: config.logLevel });
  const sidecar = createSidecar(config, logger);
  showProgress(sidecar.supervisor);
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ event: 'shutdown', signal }, `${signal}: finishing requests in flight, then stopping the model server`);
    sidecar.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  try {
    await sidecar.start();
  } catch (error) {
    const message = error instanceof SupervisorFatalError ? error.message : (error as Error).message;
    process.stderr.write(`mlx-guard: cannot start: ${message}\n`);
    await sidecar.stop(0).catch(() => undefined);
    return 1;
  }
  return await new Promise<number>(() => {});
}

process.exitCode = await main(process.argv.slice(2));
