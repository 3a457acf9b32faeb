import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { InstallPaths } from './paths.js';
import type { Runner } from './runner.js';
import { readSettings, writeSettings } from './settings.js';

/**
 * What mlx needs (MLX's install notes): an Apple Silicon Mac with macOS 14 or newer and a native
 * Python 3.10 or newer; or Linux (glibc 2.35 or newer) with the CPU or CUDA build, mlx[cpu] or
 * mlx[cuda], the CPU one proved here by the real-server suite.
 */
export const MIN_MACOS = [14, 0] as const;
export const MIN_PYTHON = [3, 10] as const;

/** The facts about this machine that decide whether mlx can run on it. */
export interface Machine {
  platform: NodeJS.Platform;
  /** The hardware is Apple Silicon (true even when Node itself runs under Rosetta). */
  appleSilicon: boolean;
  /** `sw_vers -productVersion`, on a Mac. */
  macosVersion?: string;
}

export async function probeMachine(run: Runner, platform: NodeJS.Platform = process.platform): Promise<Machine> {
  if (platform !== 'darwin') return { platform, appleSilicon: false };
  const [arm, version] = await Promise.all([run('sysctl', ['-n', 'hw.optional.arm64'], { timeoutMs: 10_000 }), run('sw_vers', ['-productVersion'], { timeoutMs: 10_000 })]);
  return { platform, appleSilicon: arm.exitCode === 0 && arm.stdout.trim() === '1', macosVersion: version.exitCode === 0 ? version.stdout.trim() : undefined };
}

export interface SetupOptions {
  /** Use this Python as it is (a venv or conda environment the user manages) instead of mlx-guard's own venv. */
  python?: string;
  /** The Python that creates mlx-guard's venv (default python3). */
  basePython?: string;
  /** On Linux, MLX's CUDA build (mlx[cuda]) instead of the CPU one. */
  cuda?: boolean;
}

export interface SetupDependencies {
  run: Runner;
  machine: Machine;
  paths: InstallPaths;
  /** One line for the person at the terminal. */
  say(line: string): void;
}

export class SetupError extends Error {
  override name = 'SetupError';
}

const atLeast = (version: readonly number[], minimum: readonly number[]) => {
  for (let i = 0; i < minimum.length; i++) {
    const part = version[i] ?? 0;
    if (part !== minimum[i]) return part > minimum[i]!;
  }
  return true;
};
const parts = (text: string) => text.split('.').map((part) => Number.parseInt(part, 10) || 0);

/**
 * `mlx-guard setup`: checks the machine, makes (or reuses) a venv, installs or upgrades mlx-lm
 * there, and records the Python so that `mlx-guard start` finds it without flags. Safe to run
 * again: an existing venv is reused and mlx-lm upgraded. Each refusal says what to do.
 */
export async function runSetup(options: SetupOptions, deps: SetupDependencies): Promise<{ python: string; mlxLmVersion: string }> {
  const { run, machine, paths, say } = deps;
  checkMachine(machine);
  const linux = machine.platform === 'linux';
  if (options.cuda && !linux) throw new SetupError('--cuda is for Linux with an NVIDIA GPU; on a Mac, mlx uses the GPU through Metal without it');
  say(linux ? `this machine: Linux, MLX's ${options.cuda ? 'CUDA' : 'CPU'} build (slower than a Mac's GPU; for trying models and for tests)` : `this Mac: Apple Silicon, macOS ${machine.macosVersion}`);

  let python = options.python;
  if (python === undefined) {
    python = join(paths.venv, 'bin', 'python');
    if (existsSync(python)) say(`reusing the venv in ${paths.venv}`);
    else {
      const base = options.basePython ?? 'python3';
      await checkPython(base, run, machine);
      say(`creating a venv in ${paths.venv} with ${base}`);
      const created = await run(base, ['-m', 'venv', paths.venv], { timeoutMs: 120_000 });
      if (created.exitCode !== 0) throw new SetupError(`${base} could not create a venv in ${paths.venv}: ${lastLines(created.stderr)}. Check that the folder is writable, or pass --python <a Python you manage>.`);
    }
  } else {
    await checkPython(python, run, machine);
  }

  // On Linux, plain "mlx" has no backend: the extra names the CPU or the CUDA build.
  const packages = linux ? [options.cuda ? 'mlx[cuda]' : 'mlx[cpu]', 'mlx-lm'] : ['mlx-lm'];
  say(`installing or upgrading ${packages.join(' and ')} with ${python} (this downloads mlx and its dependencies the first time)`);
  const installed = await run(python, ['-m', 'pip', 'install', '--upgrade', ...packages], { timeoutMs: 1_800_000 });
  if (installed.exitCode !== 0) {
    const managed = /externally-managed-environment/.test(installed.stderr);
    throw new SetupError(
      managed
        ? `${python} is an "externally managed" Python that refuses pip installs; run mlx-guard setup without --python, and it makes a venv of its own`
        : `pip could not install mlx-lm: ${lastLines(installed.stderr)}. Check the network and free disk space, then run mlx-guard setup again.`,
    );
  }
  const probe = await run(python, ['-c', 'import mlx_lm; print(getattr(mlx_lm, "__version__", "unknown"))'], { timeoutMs: 120_000 });
  if (probe.exitCode !== 0) throw new SetupError(`mlx-lm was installed but ${python} cannot import it: ${lastLines(probe.stderr)}`);
  const mlxLmVersion = probe.stdout.trim().split('\n').at(-1)!;
  writeSettings(paths.settings, { ...readSettings(paths.settings), python, mlxLmVersion });
  say(`mlx-lm ${mlxLmVersion} is ready; mlx-guard start will use ${python} (recorded in ${paths.settings})`);
  return { python, mlxLmVersion };
}

function checkMachine(machine: Machine): void {
  if (machine.platform === 'linux') return;
  if (machine.platform !== 'darwin') {
    throw new SetupError(
      `mlx runs on Apple Silicon Macs and on Linux, and this is ${machine.platform}: there is nothing to set up here. mlx-guard still runs: the stand-in (placeholder text, for trying the API) with mlx-guard start, or any other model server with mlx-guard start -- <its command with {port}>, e.g. llama-server.`,
    );
  }
  if (!machine.appleSilicon) throw new SetupError('this Mac has an Intel processor; mlx needs Apple Silicon (M1 or newer). mlx-guard can still guard another model server: mlx-guard start -- <its command with {port}>.');
  if (!machine.macosVersion || !atLeast(parts(machine.macosVersion), MIN_MACOS)) {
    throw new SetupError(`mlx needs macOS ${MIN_MACOS.join('.')} or newer (this Mac runs ${machine.macosVersion ?? 'an unknown version'}); update macOS in System Settings, then run mlx-guard setup again.`);
  }
}

/** A native Python new enough for mlx; a Python under Rosetta would install wheels mlx does not have. */
async function checkPython(python: string, run: Runner, host: Machine): Promise<void> {
  const probe = await run(python, ['-c', 'import platform, sys; print("%d.%d" % sys.version_info[:2], platform.machine())'], { timeoutMs: 60_000 });
  if (probe.exitCode !== 0) throw new SetupError(`cannot run ${python}: ${lastLines(probe.stderr) || 'not found'}. Install Python ${MIN_PYTHON.join('.')} or newer (brew install python@3.12, or the python.org installer), or name one with --base-python.`);
  const [version = '', machine = ''] = probe.stdout.trim().split(/\s+/);
  if (!atLeast(parts(version), MIN_PYTHON)) throw new SetupError(`${python} is Python ${version}; mlx needs ${MIN_PYTHON.join('.')} or newer (brew install python@3.12, or the python.org installer; then --base-python <it>).`);
  if (host.platform === 'darwin' && machine !== 'arm64') throw new SetupError(`${python} runs as ${machine}, not natively on Apple Silicon (an Intel build under Rosetta); mlx needs a native arm64 Python (Homebrew's in /opt/homebrew, or python.org's universal2 installer).`);
}

function lastLines(text: string, count = 3): string {
  return text.trim().split('\n').slice(-count).join(' / ');
}
