// `mlx-guard setup` with a fake Python (test/fixtures/fake-python) that records the commands it is
// given: the machine checks, the venv, mlx-lm installed or upgraded, its version, the Python recorded.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { setupCommand } from '../../../src/cli-install.js';
import { installPaths } from '../../../src/install/paths.js';
import { runCommand, type Runner } from '../../../src/install/runner.js';
import { readSettings } from '../../../src/install/settings.js';
import { runSetup, type Machine } from '../../../src/install/setup.js';

const fakePython = fileURLToPath(new URL('../../fixtures/fake-python/python3', import.meta.url));
const mac: Machine = { platform: 'darwin', appleSilicon: true, macosVersion: '15.1' };

function fixture(extraEnv: Record<string, string> = {}) {
  const home = mkdtempSync(join(tmpdir(), 'mlx-guard-setup-'));
  const log = join(home, 'commands.jsonl');
  const run: Runner = (file, args, options) => runCommand(file, args, { ...options, env: { FAKE_PYTHON_LOG: log, ...extraEnv } });
  const paths = installPaths({ MLX_GUARD_HOME: join(home, 'mlx-guard') }, 'darwin', home);
  const said: string[] = [];
  const commands = () => readFileSync(log, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as string[]);
  return { paths, run, said, commands, deps: (machine: Machine = mac) => ({ run, machine, paths, say: (line: string) => said.push(line) }) };
}

describe('mlx-guard setup', () => {
  it('on an Apple Silicon Mac: creates the venv, installs mlx-lm there, reads its version, records the Python; again: reuses the venv and upgrades', async () => {
    const { paths, commands, deps, said } = fixture();
    const venvPython = join(paths.venv, 'bin', 'python');
    expect(await runSetup({ basePython: fakePython }, deps())).toEqual({ python: venvPython, mlxLmVersion: '0.31.2' });
    expect(commands()).toEqual([
      [fakePython, '-c', 'import platform, sys; print("%d.%d" % sys.version_info[:2], platform.machine())'],
      [fakePython, '-m', 'venv', paths.venv],
      [venvPython, '-m', 'pip', 'install', '--upgrade', 'mlx-lm'],
      [venvPython, '-c', 'import mlx_lm; print(getattr(mlx_lm, "__version__", "unknown"))'],
    ]);
    expect(readSettings(paths.settings)).toEqual({ python: venvPython, mlxLmVersion: '0.31.2' });
    expect(said.at(-1)).toBe(`mlx-lm 0.31.2 is ready; mlx-guard start will use ${venvPython} (recorded in ${paths.settings})`);

    await runSetup({ basePython: fakePython }, deps());
    const again = commands().slice(4);
    expect(again.map((command) => command.slice(1, 3))).toEqual([
      ['-m', 'pip'],
      ['-c', 'import mlx_lm; print(getattr(mlx_lm, "__version__", "unknown"))'],
    ]);
    expect(said).toContain(`reusing the venv in ${paths.venv}`);
  });

  it('--python: that Python as it is, no venv; an externally managed one is refused with what to do', async () => {
    const { paths, commands, deps } = fixture();
    await runSetup({ python: fakePython }, deps());
    expect(commands().map((command) => command.slice(1, 3))).toEqual([
      ['-c', 'import platform, sys; print("%d.%d" % sys.version_info[:2], platform.machine())'],
      ['-m', 'pip'],
      ['-c', 'import mlx_lm; print(getattr(mlx_lm, "__version__", "unknown"))'],
    ]);
    expect(readSettings(paths.settings).python).toBe(fakePython);
    const managed = fixture({ FAKE_PIP_FAILURE: 'error: externally-managed-environment' });
    await expect(runSetup({ python: fakePython }, managed.deps())).rejects.toThrow(/is an "externally managed" Python that refuses pip installs; run mlx-guard setup without --python/);
  });

  it('on Linux: the venv with MLX\'s CPU build and mlx-lm (the CUDA build with --cuda), any machine type; --cuda on a Mac is refused', async () => {
    const linux: Machine = { platform: 'linux', appleSilicon: false };
    const cpu = fixture({ FAKE_PYTHON_MACHINE: 'x86_64' });
    const venvPython = join(cpu.paths.venv, 'bin', 'python');
    expect(await runSetup({ basePython: fakePython }, cpu.deps(linux))).toEqual({ python: venvPython, mlxLmVersion: '0.31.2' });
    expect(cpu.commands().slice(1, 3)).toEqual([
      [fakePython, '-m', 'venv', cpu.paths.venv],
      [venvPython, '-m', 'pip', 'install', '--upgrade', 'mlx[cpu]', 'mlx-lm'],
    ]);
    expect(cpu.said[0]).toMatch(/^this machine: Linux, MLX's CPU build/);
    const cuda = fixture({ FAKE_PYTHON_MACHINE: 'aarch64' });
    await runSetup({ basePython: fakePython, cuda: true }, cuda.deps(linux));
    expect(cuda.commands()[2]!.slice(1)).toEqual(['-m', 'pip', 'install', '--upgrade', 'mlx[cuda]', 'mlx-lm']);
    await expect(runSetup({ basePython: fakePython, cuda: true }, fixture().deps())).rejects.toThrow(/--cuda is for Linux with an NVIDIA GPU/);
  });

  it('refuses, saying what to do: another system, an Intel Mac, an old macOS, an old or non-native Python, a failed install', async () => {
    const { deps } = fixture();
    await expect(runSetup({}, deps({ platform: 'win32', appleSilicon: false }))).rejects.toThrow(/mlx runs on Apple Silicon Macs and on Linux, and this is win32.*mlx-guard start -- <its command with \{port\}>/);
    await expect(runSetup({}, deps({ platform: 'darwin', appleSilicon: false, macosVersion: '14.5' }))).rejects.toThrow(/Intel processor; mlx needs Apple Silicon/);
    await expect(runSetup({}, deps({ ...mac, macosVersion: '13.6.1' }))).rejects.toThrow(/mlx needs macOS 14.0 or newer \(this Mac runs 13.6.1\)/);
    await expect(runSetup({ basePython: fakePython }, fixture({ FAKE_PYTHON_VERSION: '3.9' }).deps())).rejects.toThrow(/is Python 3.9; mlx needs 3.10 or newer/);
    await expect(runSetup({ basePython: fakePython }, fixture({ FAKE_PYTHON_MACHINE: 'x86_64' }).deps())).rejects.toThrow(/runs as x86_64, not natively on Apple Silicon/);
    await expect(runSetup({ basePython: '/nonexistent/python3' }, fixture().deps())).rejects.toThrow(/cannot run \/nonexistent\/python3/);
    await expect(runSetup({ basePython: fakePython }, fixture({ FAKE_PIP_FAILURE: 'No space left on device' }).deps())).rejects.toThrow(/pip could not install mlx-lm: No space left on device\. Check the network and free disk space/);
  });

  it('the command on a machine mlx does not run on: exit 3 and the explanation, nothing changed', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await setupCommand([], { run: runCommand, env: {}, platform: 'win32', out: (l) => out.push(l), err: (l) => err.push(l) });
    expect(code).toBe(3);
    expect(out).toEqual([]);
    expect(err.join('\n')).toMatch(/^mlx-guard setup: mlx runs on Apple Silicon Macs and on Linux, and this is win32/);
  });
});
