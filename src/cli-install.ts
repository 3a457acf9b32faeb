// The commands that set up a machine: `setup`, `pull`, `service`. Each returns its exit code.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadConfig, secretsOutOfArgs } from './config.js';
import { formatBytes } from './install/format.js';
import { describePull, hubEndpoint } from './install/model-download.js';
import { hubCacheDir, installPaths } from './install/paths.js';
import { PullError, pullModel } from './install/pull.js';
import { runCommand, type Runner } from './install/runner.js';
import { removeUnit, ServiceError, serviceEnvironment, serviceTarget, tailLog, writeUnit } from './install/service.js';
import { probeMachine, runSetup, SetupError, type Machine } from './install/setup.js';

/** Exit codes shared with `start` (README, "Exit codes"). */
const OK = 0;
const FAILED = 1;
const USAGE = 2;
const NEEDS_PERSON = 3;

export interface InstallContext {
  run: Runner;
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  out: (line: string) => void;
  err: (line: string) => void;
  /** The machine as `setup` judges it (probed when absent). */
  machine?: Machine;
}

export const defaultContext = (): InstallContext => ({
  run: runCommand,
  env: process.env,
  platform: process.platform,
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});

function parse(args: readonly string[], options: NonNullable<ParseArgsConfig['options']>, allowPositionals = false) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals });
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

export async function setupCommand(args: readonly string[], context = defaultContext()): Promise<number> {
  const { values } = parse(args, { python: { type: 'string' }, 'base-python': { type: 'string' }, cuda: { type: 'boolean' } });
  try {
    const machine = context.machine ?? (await probeMachine(context.run, context.platform));
    await runSetup(
      { ...(typeof values.python === 'string' ? { python: values.python } : {}), ...(typeof values['base-python'] === 'string' ? { basePython: values['base-python'] } : {}), ...(values.cuda === true ? { cuda: true } : {}) },
      { run: context.run, machine, paths: installPaths(context.env, context.platform), say: (line) => context.out(`mlx-guard setup: ${line}`) },
    );
    return OK;
  } catch (error) {
    if (!(error instanceof SetupError)) throw error;
    context.err(`mlx-guard setup: ${error.message}`);
    return NEEDS_PERSON;
  }
}

export async function pullCommand(args: readonly string[], context = defaultContext()): Promise<number> {
  const { values, positionals } = parse(args, { revision: { type: 'string' } }, true);
  const [repo] = positionals;
  if (repo === undefined || positionals.length > 1) {
    context.err('mlx-guard pull: name one model, e.g. mlx-guard pull mlx-community/Qwen3-4B-4bit');
    return USAGE;
  }
  const tty = process.stderr.isTTY;
  let lastLine = 0;
  try {
    const result = await pullModel(repo, {
      endpoint: hubEndpoint(context.env),
      cacheDir: hubCacheDir(context.env),
      ...(typeof values.revision === 'string' ? { revision: values.revision } : {}),
      ...(context.env.HF_TOKEN ? { token: context.env.HF_TOKEN } : {}),
      onProgress: (progress) => {
        const { text } = describePull(repo, progress);
        if (tty) process.stderr.write(`\r\x1b[2Kdownloading ${text}`);
        else if (performance.now() - lastLine >= 5_000 || progress.doneBytes === progress.totalBytes) {
          lastLine = performance.now();
          context.err(`downloading ${text}`);
        }
      },
    });
    if (tty) process.stderr.write('\r\x1b[2K');
    context.out(`${repo}: ${result.files} files, ${formatBytes(result.totalBytes)} in ${result.snapshot} (${formatBytes(result.transferredBytes)} downloaded now)`);
    return OK;
  } catch (error) {
    if (tty) process.stderr.write('\n');
    // Whatever went wrong (a disk full, a permission, the network), a message and an exit code; no stack.
    const { code, message } = error as NodeJS.ErrnoException;
    context.err(`mlx-guard pull: ${error instanceof PullError ? message : `${code ? `${code}: ` : ''}${message ?? String(error)}`}`);
    return FAILED;
  }
}

/** The service for mlx-guard on `port`, and where its output goes. */
const serviceAt = (port: number, context: InstallContext) => ({
  target: serviceTarget(context.platform, port, process.getuid?.() ?? 0, context.env),
  logFile: join(installPaths(context.env, context.platform).logDir, `mlx-guard-${port}.log`),
});

const cliScript = () => fileURLToPath(new URL('./cli.js', import.meta.url));

export async function serviceCommand(args: readonly string[], context = defaultContext()): Promise<number> {
  const [action, ...rest] = args;
  try {
    if (action === 'install') {
      // Checked now, so that the service cannot fail later on its options.
      const config = loadConfig(rest, context.env);
      const { target, logFile } = serviceAt(config.port, context);
      // Secrets given as flags go into the unit's environment (a file only the user reads), never its command line.
      const { args, env } = secretsOutOfArgs(rest);
      writeUnit(target, { port: config.port, node: process.execPath, cli: cliScript(), startArgs: args, env: { ...serviceEnvironment(context.env, process.execPath), ...env }, logFile });
      await target.install(context.run);
      context.out(`mlx-guard service: ${target.name} installed (${target.file}) and started; it starts at login and restarts after a failure. Its output: ${logFile}`);
      return OK;
    }
    const { values } = parse(rest, { port: { type: 'string' }, lines: { type: 'string' } });
    const port = Number(values.port ?? 8080);
    if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new ConfigError(`--port must be a port number (got ${String(values.port)})`);
    const { target, logFile } = serviceAt(port, context);
    if (action === 'uninstall') {
      await target.uninstall(context.run);
      context.out(removeUnit(target) ? `mlx-guard service: ${target.name} stopped and removed` : `mlx-guard service: no ${target.name} was installed`);
      return OK;
    }
    if (action === 'status') {
      const managed = await target.status(context.run);
      const health = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(3_000) }).then(
        async (response) => `mlx-guard: ${response.status === 200 ? 'ready' : `not ready (${((await response.json()) as { modelServer?: { state?: string } }).modelServer?.state ?? response.status})`}`,
        () => 'mlx-guard: not answering on its port',
      );
      context.out(`${target.name}: ${managed.detail}; ${health}`);
      return managed.running && health.endsWith('ready') ? OK : FAILED;
    }
    if (action === 'logs') {
      context.out(tailLog(logFile, Number(values.lines ?? 100)) || `no log yet at ${logFile}`);
      return OK;
    }
    context.err('mlx-guard service: say install [start options], uninstall, status or logs [--port N] [--lines N]');
    return USAGE;
  } catch (error) {
    if (error instanceof ConfigError) {
      context.err(`mlx-guard service: ${error.message}`);
      return USAGE;
    }
    if (!(error instanceof ServiceError)) throw error;
    context.err(`mlx-guard service: ${error.message}`);
    return FAILED;
  }
}
