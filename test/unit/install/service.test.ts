// The login service: the launchd agent checked as a property list by Python's plistlib, the
// systemd unit by systemd-analyze (when the machine has it), and launchctl / systemctl called
// through an injected runner with the exact arguments.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { serviceCommand, type InstallContext } from '../../../src/cli-install.js';
import type { Runner, RunResult } from '../../../src/install/runner.js';
import { serviceEnvironment, serviceTarget, type ServiceSpec } from '../../../src/install/service.js';

const cli = fileURLToPath(new URL('../../../src/cli.ts', import.meta.url));
const spec = (logFile: string): ServiceSpec => ({
  port: 8090,
  node: process.execPath,
  cli,
  startArgs: ['--port', '8090', '--model', 'mlx-community/Qwen3-4B-4bit', '--allowed-origins', '["https://a.example?x=1&y=<2>"]'],
  env: serviceEnvironment({ MLX_GUARD_API_KEY: 'a-long-enough-secret-key', HF_HOME: '/Users/me/hf', SECRET_ELSEWHERE: 'not passed' }, process.execPath),
  logFile,
});

function recorder(answers: Record<string, Partial<RunResult>> = {}): { run: Runner; calls: string[][] } {
  const calls: string[][] = [];
  const run: Runner = async (file, args) => {
    calls.push([file, ...args]);
    return { exitCode: 0, stdout: '', stderr: '', ...answers[[file, ...args].join(' ')] };
  };
  return { run, calls };
}

describe('launchd agent', () => {
  const home = mkdtempSync(join(tmpdir(), 'mlx-guard-launchd-'));
  const target = serviceTarget('darwin', 8090, 501, { HOME: home });

  it('is a valid property list with the keys launchd needs, absolute paths, and the environment (not in the arguments)', () => {
    const plist = join(home, 'agent.plist');
    writeFileSync(plist, target.render(spec(join(home, 'Library/Logs/mlx-guard/mlx-guard-8090.log'))));
    const parsed = JSON.parse(execFileSync('python3', ['-c', 'import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], "rb"))))', plist], { encoding: 'utf8' })) as Record<string, unknown>;
    expect(parsed).toEqual({
      Label: 'dev.mlx-guard.8090',
      ProgramArguments: [process.execPath, cli, 'start', ...spec('').startArgs, '--exit-on-fatal', 'false'],
      EnvironmentVariables: { MLX_GUARD_API_KEY: 'a-long-enough-secret-key', HF_HOME: '/Users/me/hf', PATH: expect.stringContaining('/opt/homebrew/bin') },
      RunAtLoad: true,
      KeepAlive: { SuccessfulExit: false },
      ThrottleInterval: 10,
      ExitTimeOut: 30,
      ProcessType: 'Interactive',
      StandardOutPath: join(home, 'Library/Logs/mlx-guard/mlx-guard-8090.log'),
      StandardErrorPath: join(home, 'Library/Logs/mlx-guard/mlx-guard-8090.log'),
    });
    // Node's own folder first: a service starts with a bare PATH.
    expect((parsed.EnvironmentVariables as { PATH: string }).PATH.startsWith(`${dirname(process.execPath)}:`)).toBe(true);
    expect(target.file).toBe(join(home, 'Library', 'LaunchAgents', 'dev.mlx-guard.8090.plist'));
    expect(() => target.render({ ...spec('/tmp/x.log'), cli: 'dist/cli.js' })).toThrow(/needs absolute paths, and dist\/cli\.js is not one/);
    // A guarded command after "--" stays the model server's: mlx-guard's own option goes before it.
    writeFileSync(plist, target.render({ ...spec('/tmp/x.log'), startArgs: ['--port', '8090', '--', '/opt/llama-server', '--port', '{port}'] }));
    const guarded = JSON.parse(execFileSync('python3', ['-c', 'import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], "rb"))))', plist], { encoding: 'utf8' })) as { ProgramArguments: string[] };
    expect(guarded.ProgramArguments.slice(2)).toEqual(['start', '--port', '8090', '--exit-on-fatal', 'false', '--', '/opt/llama-server', '--port', '{port}']);
  });

  it('install bootstraps it in the user\'s GUI domain (replacing a loaded one), uninstall boots it out, status reads launchctl print', async () => {
    const { run, calls } = recorder({
      'launchctl print gui/501/dev.mlx-guard.8090': { stdout: 'gui/501/dev.mlx-guard.8090 = {\n\tactive count = 1\n\tstate = running\n\tpid = 4242\n\tlast exit code = 0\n}' },
    });
    await target.install(run);
    await target.uninstall(run);
    expect(calls).toEqual([
      ['launchctl', 'bootout', 'gui/501/dev.mlx-guard.8090'],
      ['launchctl', 'bootstrap', 'gui/501', target.file],
      ['launchctl', 'bootout', 'gui/501/dev.mlx-guard.8090'],
    ]);
    expect(await target.status(run)).toEqual({ running: true, detail: 'launchd: running, pid 4242, last exit 0' });
    const failing = recorder({ [`launchctl bootstrap gui/501 ${target.file}`]: { exitCode: 5, stderr: 'Bootstrap failed: 5: Input/output error' } });
    await expect(target.install(failing.run)).rejects.toThrow(/launchctl bootstrap gui\/501 .* failed: Bootstrap failed: 5: Input\/output error/);
  });
});

describe('systemd user unit', () => {
  const config = mkdtempSync(join(tmpdir(), 'mlx-guard-systemd-'));
  const target = serviceTarget('linux', 8090, 1000, { HOME: '/home/me', XDG_CONFIG_HOME: config });
  const hasAnalyzer = spawnSync('systemd-analyze', ['--version']).status === 0;

  it.runIf(hasAnalyzer)('passes systemd-analyze verify; restarts on failure except the exit codes that need a person', () => {
    const unit = join(config, 'mlx-guard-8090.service');
    const text = target.render(spec(join(config, 'mlx-guard-8090.log')));
    writeFileSync(unit, text);
    const verified = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    expect(verified.stderr).toBe('');
    expect(verified.status).toBe(0);
    expect(text).toContain('RestartPreventExitStatus=2 3');
    expect(text).toContain(`ExecStart="${process.execPath}" "${cli}" "start" "--port" "8090"`);
    expect(text).toContain('"--allowed-origins" "[\\"https://a.example?x=1&y=<2>\\"]"');
    // The check is real: a unit it should refuse, it refuses.
    writeFileSync(unit, text.replace(/^ExecStart=.*$/m, 'ExecStart=relative/cli.js start'));
    expect(spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' }).status).not.toBe(0);
  });

  it('mlx-guard service install writes the unit (readable by the user alone) and enables it; uninstall removes it', async () => {
    const { run, calls } = recorder();
    const out: string[] = [];
    const context: InstallContext = { run, env: { HOME: config, XDG_CONFIG_HOME: config, XDG_STATE_HOME: join(config, 'state'), MLX_GUARD_API_KEY: 'a-long-enough-secret-key' }, platform: 'linux', out: (l) => out.push(l), err: (l) => out.push(l) };
    expect(await serviceCommand(['install', '--port', '8091', '--backend', 'standin'], context)).toBe(0);
    const file = join(config, 'systemd', 'user', 'mlx-guard-8091.service');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toContain('Environment="MLX_GUARD_API_KEY=a-long-enough-secret-key"');
    expect(calls).toEqual([
      ['systemctl', '--user', 'daemon-reload'],
      ['systemctl', '--user', 'enable', '--now', 'mlx-guard-8091.service'],
      ['systemctl', '--user', 'restart', 'mlx-guard-8091.service'],
    ]);
    expect(await serviceCommand(['uninstall', '--port', '8091'], context)).toBe(0);
    expect(existsSync(file)).toBe(false);
    expect(calls.slice(3)).toEqual([
      ['systemctl', '--user', 'disable', '--now', 'mlx-guard-8091.service'],
      ['systemctl', '--user', 'daemon-reload'],
    ]);
    // Options are checked at install, so the service cannot fail on them later.
    expect(await serviceCommand(['install', '--backend', 'ollama'], context)).toBe(2);
    expect(out.at(-1)).toMatch(/mlx-guard service: invalid configuration:\n  supervisor\.backend/);
  });

  it('secrets given to service install as flags go into the unit\'s environment, never its command line (which ps shows); a secret file is passed as its path', async () => {
    const { run } = recorder();
    const context: InstallContext = { run, env: { HOME: config, XDG_CONFIG_HOME: config, XDG_STATE_HOME: join(config, 'state') }, platform: 'linux', out: () => undefined, err: () => undefined };
    const tokenFile = join(config, 'admin-token');
    writeFileSync(tokenFile, 'an-admin-token-from-a-file\n', { mode: 0o600 });
    const args = ['install', '--port', '8092', '--api-key', 'the-api-key-on-a-flag', '--admin-token-file', tokenFile, '--backend', 'standin'];
    expect(await serviceCommand(args, context)).toBe(0);
    const text = readFileSync(join(config, 'systemd', 'user', 'mlx-guard-8092.service'), 'utf8');
    const exec = /^ExecStart=(.*)$/m.exec(text)![1]!;
    expect(exec).not.toContain('the-api-key-on-a-flag');
    expect(exec).not.toContain('--api-key"');
    expect(exec).toContain(`"--admin-token-file" "${tokenFile}"`);
    expect(text).toContain('Environment="MLX_GUARD_API_KEY=the-api-key-on-a-flag"');
    expect(text).not.toContain('an-admin-token-from-a-file');
  });
});
