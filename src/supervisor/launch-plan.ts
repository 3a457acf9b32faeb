import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { childEnvironment } from './child-env.js';
import { SupervisorFatalError } from './errors.js';
import type { ResolvedSupervisorOptions } from './options.js';

/** Where mlx_host.py reads the key it requires of every request (and then removes it from its environment). */
export const HOST_API_KEY_ENV = 'MLX_HOST_API_KEY';

export const hostScript = fileURLToPath(new URL('../../native-host/mlx_host.py', import.meta.url));

/** How to start the model server; the port is filled in per launch. */
export interface LaunchPlan {
  backend: 'mlx' | 'standin' | 'command';
  /** Through native-host/mlx_host.py: events on fd 3, and the stdin watchdog against orphans. */
  viaHost: boolean;
  /** The child's whole environment (see `childEnvironment`). */
  env: Record<string, string>;
  /** One line for the log when the choice deserves a word (auto picked the stand-in, say). */
  notice?: string;
  /** mlx_lm version, when the backend is mlx. */
  version?: string;
  /**
   * The environment variable the server reads the key it then requires of every request from
   * (`mlx_host.py`'s own; llama-server's `LLAMA_API_KEY`, its `--api-key` kept off the command
   * line): each launch gets a fresh key, which only mlx-guard holds. None: the command is not
   * known to check one, and anything that reaches its port may use it.
   */
  apiKeyEnv?: string;
  argv(port: number): [file: string, args: string[]];
}

/** Server flags that appeared after mlx-lm's first server release (docs/mlx-lm.md, "Server flags by version"). */
const flagSince: Record<string, string> = {
  '--decode-concurrency': '0.30.6',
  '--prompt-concurrency': '0.30.6',
  '--pipeline': '0.30.6',
  '--prefill-step-size': '0.31.0',
  '--prompt-cache-size': '0.31.0',
  '--prompt-cache-bytes': '0.31.0',
  '--allowed-origins': '0.31.2',
};

export function olderThan(version: string, than: string): boolean {
  const a = version.split(/[.+-]/).map(Number);
  const b = than.split('.').map(Number);
  for (let i = 0; i < b.length; i++) {
    const x = a[i] ?? 0;
    if (Number.isNaN(x)) return false;
    if (x !== b[i]) return x < b[i]!;
  }
  return false;
}

export function defaultPython(options: ResolvedSupervisorOptions): string {
  if (options.python) return options.python;
  const venv = process.env.VIRTUAL_ENV;
  return venv ? join(venv, 'bin', 'python') : 'python3';
}

/** The mlx_lm version `python` imports, or undefined when it cannot import it. */
export async function probeMlxLm(python: string): Promise<string | undefined> {
  const result = await execa(python, ['-c', 'import mlx_lm; print(getattr(mlx_lm, "__version__", "unknown"))'], {
    reject: false,
    timeout: 60_000,
    env: childEnvironment(process.env, {}),
    extendEnv: false,
    stdin: 'ignore',
  });
  return result.exitCode === 0 ? String(result.stdout).trim() : undefined;
}

/**
 * mlx_lm.server across machines, under MLX's own launcher: `mlx.launch [hosts] [backend] <options>
 * <mlx_lm/server.py> … --pipeline`, rank 0 serving HTTP. The launcher starts the ranks (over ssh
 * for remote hosts) and, as a job, ends when one of them does; mlx-guard supervises the launcher
 * like any server it cannot see inside (readiness by canary, liveness by /health), and a restart
 * restarts the whole job. Stopping ends the launcher's process group on this machine; the remote
 * ranks end when their ssh sessions do, which mlx-guard cannot check (README, "Distributed").
 */
async function planDistributed(options: ResolvedSupervisorOptions, python: string, version: string | undefined, env: Record<string, string>): Promise<LaunchPlan> {
  const distributed = options.distributed!;
  if (version && olderThan(version, PIPELINE_SINCE)) {
    throw new SupervisorFatalError('flag_unsupported', `mlx_lm ${version} cannot serve one model across machines: --pipeline came in ${PIPELINE_SINCE}. Upgrade mlx-lm on every host (mlx-guard setup), or drop the distributed setting.`);
  }
  const serverScript = await probeServerScript(python);
  if (!serverScript) throw new SupervisorFatalError('mlx_lm_not_importable', `${python} cannot find mlx_lm.server's file, which mlx.launch runs on every host`);
  const launcher = distributed.launcher ?? (python.includes('/') ? join(dirname(python), 'mlx.launch') : 'mlx.launch');
  const placement = distributed.hostfile !== undefined ? ['--hostfile', distributed.hostfile] : ['--hosts', distributed.hosts!.join(',')];
  return {
    backend: 'mlx',
    viaHost: false,
    env,
    version,
    notice: `running mlx_lm.server ${version} across ${distributed.hostfile ?? distributed.hosts!.join(', ')} with ${launcher} (--pipeline; rank 0 serves HTTP)`,
    argv: (port) => [
      launcher,
      [...placement, ...(distributed.backend ? ['--backend', distributed.backend] : []), ...distributed.launcherArgs, serverScript, '--model', options.model!, '--host', options.host, '--port', String(port), ...options.serverArgs, '--pipeline'],
    ],
  };
}

const PIPELINE_SINCE = flagSince['--pipeline']!;

async function probeServerScript(python: string): Promise<string | undefined> {
  const result = await execa(python, ['-c', 'import mlx_lm.server as s; print(s.__file__)'], { reject: false, timeout: 60_000, env: childEnvironment(process.env, {}), extendEnv: false, stdin: 'ignore' });
  return result.exitCode === 0 ? String(result.stdout).trim() : undefined;
}

export async function planLaunch(options: ResolvedSupervisorOptions): Promise<LaunchPlan> {
  const env = childEnvironment(process.env, { PYTHONUNBUFFERED: '1', ...(options.model && existsSync(options.model) ? { HF_HUB_OFFLINE: '1' } : {}) });
  const python = defaultPython(options);
  let backend = options.backend;
  let notice: string | undefined;
  let version: string | undefined;

  if (backend === 'command') {
    const command = options.command!;
    return {
      backend,
      viaHost: false,
      env,
      ...(basename(command[0]!).startsWith('llama-server') ? { apiKeyEnv: 'LLAMA_API_KEY' } : {}),
      argv: (port) => [command[0]!, command.slice(1).map((arg) => arg.replaceAll('{port}', String(port)))],
    };
  }
  if (backend === 'auto' || backend === 'mlx') {
    // mlx runs on Apple Silicon Macs and, on the CPU or CUDA, on Linux: wherever mlx_lm imports.
    version = await probeMlxLm(python);
    if (backend === 'auto') {
      backend = version !== undefined ? 'mlx' : 'standin';
      notice =
        backend === 'mlx'
          ? `auto: running mlx_lm.server ${version} with ${python}`
          : `auto: ${python} cannot import mlx_lm, so mlx-guard runs the STAND-IN server: placeholder text, not a model. Run mlx-guard setup (an Apple Silicon Mac, or Linux with MLX on the CPU) or pass --python <a Python with mlx-lm> to serve a real model.`;
    } else if (version === undefined) {
      throw new SupervisorFatalError(
        'mlx_lm_not_importable',
        `${python} cannot import mlx_lm. Run mlx-guard setup, install it into that Python (python3 -m pip install mlx-lm on a Mac; "mlx[cpu]" mlx-lm on Linux), or point mlx-guard at one that has it (--python, or activate its venv).`,
      );
    }
  }
  if (options.distributed && backend !== 'mlx') {
    throw new SupervisorFatalError('bad_arguments', 'a distributed model server runs mlx_lm.server with mlx.launch, and this machine runs the stand-in: set backend "mlx" on an Apple Silicon Mac with mlx-lm, or drop the distributed setting');
  }
  if (backend === 'mlx') {
    if (!options.model) throw new SupervisorFatalError('model_required', 'the mlx backend needs a model: pass --model <Hugging Face repo id or local path>');
    if (options.distributed) return planDistributed(options, python, version, env);
    for (const arg of options.serverArgs) {
      const since = flagSince[arg.split('=')[0]!];
      if (since && version && olderThan(version, since)) {
        throw new SupervisorFatalError('flag_unsupported', `mlx_lm ${version} does not know ${arg} (added in ${since}): upgrade mlx-lm or drop the flag`);
      }
    }
  }
  const serverBackend = backend as 'mlx' | 'standin';
  return {
    backend: serverBackend,
    viaHost: true,
    env,
    apiKeyEnv: HOST_API_KEY_ENV,
    notice,
    version,
    argv: (port) => [
      serverBackend === 'mlx' ? python : options.python ?? 'python3',
      [
        hostScript,
        '--backend',
        serverBackend,
        '--events-fd',
        '3',
        '--',
        ...(options.model ? ['--model', options.model] : []),
        '--host',
        options.host,
        '--port',
        String(port),
        ...options.serverArgs,
      ],
    ],
  };
}
