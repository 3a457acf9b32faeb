#!/usr/bin/env node
// The `mlx-guard` command (`npm start` runs `mlx-guard start`).
import { pullCommand, serviceCommand, setupCommand } from './cli-install.js';
import { statusCommand } from './cli-status.js';
import { installPaths } from './install/paths.js';
import { readSettings } from './install/settings.js';
import { ConfigError, describeOptions, loadConfig, secretFlagsIn } from './config.js';
import { STOP_SIGNALS, SupervisorFatalError, showProgress, type FatalReason } from './supervisor/index.js';
import { createLogger } from './observability/logger.js';
import { createSidecar } from './sidecar.js';

const usage = `mlx-guard: a resilience sidecar for mlx_lm.server

Usage:
  mlx-guard start [options] [-- command]
                              launch the model server and serve its API through mlx-guard; after
                              "--", the command of any other model server, with {port}
  mlx-guard status [--url URL] [--token T] [--json] [--watch]
                              a running instance's status (exit 0 when ready: a health check)
  mlx-guard setup [--python P | --base-python P] [--cuda]
                              on an Apple Silicon Mac, or on Linux (MLX on the CPU; --cuda for
                              NVIDIA): make a venv, install or upgrade mlx-lm in it, and record it
                              for start
  mlx-guard pull <org/model> [--revision R]
                              download a model into the Hugging Face cache, with progress
                              (start does it too, before its start deadline begins)
  mlx-guard service install [start options] | uninstall | status | logs [--port N] [--lines N]
                              run mlx-guard as a login service (launchd on a Mac, systemd on Linux)
  mlx-guard --help            this text

Options (flag, environment variable, meaning):
${describeOptions()}
`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const own = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest; // after "--": the model server's
  if (command === undefined || command === '--help' || command === '-h' || command === 'help' || own.includes('--help')) {
    process.stdout.write(usage);
    return 0;
  }
  if (command === 'status') return statusCommand(rest);
  if (command === 'setup') return setupCommand(rest);
  if (command === 'pull') return pullCommand(rest);
  if (command === 'service') return serviceCommand(rest);
  if (command !== 'start') {
    process.stderr.write(`mlx-guard: unknown command "${command}". Run "mlx-guard --help" for the commands.\n`);
    return EXIT.usage;
  }
  let config;
  try {
    config = loadConfig(rest);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`mlx-guard: ${error.message}\n`);
    return EXIT.usage;
  }
  // The Python `mlx-guard setup` recorded, unless one was named or a venv is active.
  if (config.supervisor.python === undefined && !process.env.VIRTUAL_ENV) {
    const recorded = readSettings(installPaths().settings).python;
    if (recorded !== undefined) config.supervisor.python = recorded;
  }
  const logger = createLogger({ level: config.logLevel, ...(config.logFormat === 'auto' ? {} : { pretty: config.logFormat === 'text' }) });
  for (const flag of secretFlagsIn(rest)) {
    logger.warn({ event: 'secret_on_command_line', flag }, `${flag} was given on the command line, where every local user can read it (ps); give it in a file (${flag}-file) or its MLX_GUARD_ variable instead`);
  }
  const sidecar = createSidecar(config, logger);
  showProgress(sidecar.supervisor);
  let stopping = false;
  let serving = false;
  // However this process ends (an uncaught error included), its model server ends with it; a
  // SIGKILL, which runs nothing here, is the watchdog's (mlx_host.py's, or the reaper's).
  const killAllNow = () => {
    for (const model of sidecar.models.models) model.supervisor.killNow();
  };
  process.on('exit', killAllNow);
  /**
   * `drainMs`: how long new requests are still served while a load balancer notices /health's
   * 503; `graceMs`: how long requests in flight then get to finish.
   */
  const stop = (why: string, code: number, drainMs = 0, graceMs = config.drain.graceMs) => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'shutdown', why }, `${why}: ${drainMs > 0 ? 'draining, then ' : ''}finishing requests in flight, then stopping the model server`);
    sidecar.shutdown(drainMs, graceMs).then(
      () => process.exit(code),
      () => process.exit(EXIT.failed),
    );
  };
  for (const signal of STOP_SIGNALS) {
    process.on(signal, () => {
      // A second signal while stopping means "now": the model server's group first, then out.
      if (stopping) {
        killAllNow();
        process.exit(EXIT.failed);
      }
      // Ctrl-C is a person at a terminal: stop now, giving requests in flight a short grace. A
      // service manager or an orchestrator sends SIGTERM (or SIGHUP): drain first, so that a load
      // balancer in front takes the node out before its connections are refused.
      if (signal === 'SIGINT') stop(signal, EXIT.ok, 0, Math.min(INTERRUPT_GRACE_MS, config.drain.graceMs));
      else stop(signal, EXIT.ok, serving ? config.drain.windowMs : 0);
    });
  }
  // Started under npm or a shell that dies without passing its signal on, mlx-guard is
  // re-parented; it must not keep a model server running that nothing can stop.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop(`the parent process ${parent} is gone`, EXIT.ok);
  }, 1_000).unref();
  // A pinned model (the one model, unless models.served says otherwise) is one mlx-guard cannot
  // serve without; any other that is given up on fails alone, its requests refused with why.
  for (const model of sidecar.models.models.filter((served) => served.pin)) {
    model.supervisor.onTransition(({ to }) => {
      const fatal = model.supervisor.status.fatal;
      if (to !== 'fatal' || !fatal || !config.exitOnFatal || !serving) return;
      process.stderr.write(`mlx-guard: the model server${sidecar.models.catchAll ? '' : ` of ${model.name}`} is given up on: ${fatal.message}\n`);
      stop(`fatal (${fatal.reason})`, exitCodeFor(fatal.reason));
    });
  }
  try {
    await sidecar.start();
    serving = true;
  } catch (error) {
    const message = error instanceof SupervisorFatalError ? error.message : (error as Error).message;
    process.stderr.write(`mlx-guard: cannot start: ${message}\n`);
    await sidecar.stop(0).catch(() => undefined);
    return error instanceof SupervisorFatalError ? exitCodeFor(error.reason) : EXIT.failed;
  }
  return new Promise<number>(() => {});
}

/** How long requests in flight may finish after a Ctrl-C before the model server is stopped. */
const INTERRUPT_GRACE_MS = 3_000;

/** Exit codes (README, "Exit codes"): a service manager restarts on 4, and should not on 2 or 3. */
export const EXIT = { ok: 0, failed: 1, usage: 2, needsPerson: 3, gaveUp: 4 } as const;

function exitCodeFor(reason: FatalReason): number {
  return reason === 'restart_budget_exhausted' || reason === 'model_download_failed' ? EXIT.gaveUp : EXIT.needsPerson;
}

process.exitCode = await main(process.argv.slice(2));
