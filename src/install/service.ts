import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import type { Runner } from './runner.js';

/**
 * mlx-guard as a login service: a launchd agent on a Mac, a systemd user unit on Linux. One per
 * port. The unit runs this very node and CLI by absolute path with the options given at install,
 * and the environment mlx-guard needs (its own variables, Hugging Face's, PATH) in the unit file,
 * which only the user can read, rather than in arguments any process listing shows.
 */
export interface ServiceSpec {
  port: number;
  /** Absolute paths: the node binary and mlx-guard's CLI script. */
  node: string;
  cli: string;
  /** Options for `mlx-guard start`, as given to `service install`. */
  startArgs: readonly string[];
  env: Record<string, string>;
  logFile: string;
}

export interface ServiceTarget {
  kind: 'launchd' | 'systemd';
  /** The launchd label or the systemd unit name. */
  name: string;
  /** Where the unit file goes. */
  file: string;
  render(spec: ServiceSpec): string;
  install(run: Runner): Promise<void>;
  uninstall(run: Runner): Promise<void>;
  /** The service manager's view, in its own words, and whether it says running. */
  status(run: Runner): Promise<{ running: boolean; detail: string }>;
}

export class ServiceError extends Error {
  override name = 'ServiceError';
}

/** Environment a service needs from the installing shell: mlx-guard's options and secrets, where models live, a hub token. */
export function serviceEnvironment(env: NodeJS.ProcessEnv, node: string): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== '' && (key.startsWith('MLX_GUARD_') || ['HF_HOME', 'HF_HUB_CACHE', 'HF_ENDPOINT', 'HF_TOKEN', 'VIRTUAL_ENV'].includes(key))) kept[key] = value;
  }
  // Services start with a bare PATH; node's own folder and Homebrew's come first.
  kept.PATH = [dirname(node), '/opt/homebrew/bin', '/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin'].filter((dir, i, all) => all.indexOf(dir) === i).join(':');
  return kept;
}

export function serviceTarget(platform: NodeJS.Platform, port: number, uid: number, env: NodeJS.ProcessEnv = process.env): ServiceTarget {
  const home = env.HOME ?? homedir();
  if (platform === 'darwin') return launchdTarget(port, uid, home);
  if (platform === 'linux') return systemdTarget(port, env.XDG_CONFIG_HOME ?? join(home, '.config'));
  throw new ServiceError(`mlx-guard can install a service on macOS (launchd) or Linux (systemd), not on ${platform}`);
}

function check(spec: ServiceSpec): void {
  for (const path of [spec.node, spec.cli, spec.logFile]) if (!isAbsolute(path)) throw new ServiceError(`a service needs absolute paths, and ${path} is not one`);
}

const xml = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

function launchdTarget(port: number, uid: number, home: string): ServiceTarget {
  const name = `dev.mlx-guard.${port}`;
  const file = join(home, 'Library', 'LaunchAgents', `${name}.plist`);
  const domain = `gui/${uid}`;
  return {
    kind: 'launchd',
    name,
    file,
    render(spec) {
      check(spec);
      // exitOnFatal false: once the model server is given up on, mlx-guard stays up answering 503
      // with the reason (and its page shows it) instead of exiting into launchd's restart loop,
      // which cannot tell "needs a person" from "try again" by exit code.
      // Before "--", after which the arguments are the model server's own.
      const split = spec.startArgs.indexOf('--');
      const own = split === -1 ? spec.startArgs : spec.startArgs.slice(0, split);
      const server = split === -1 ? [] : spec.startArgs.slice(split);
      const args = [spec.node, spec.cli, 'start', ...own, '--exit-on-fatal', 'false', ...server];
      const env = Object.entries(spec.env).map(([key, value]) => `      <key>${xml(key)}</key>\n      <string>${xml(value)}</string>`);
      return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
  <dict>
    <key>Label</key>
    <string>${name}</string>
    <key>ProgramArguments</key>
    <array>
${args.map((arg) => `      <string>${xml(arg)}</string>`).join('\n')}
    </array>
    <key>EnvironmentVariables</key>
    <dict>
${env.join('\n')}
    </dict>
    <key>RunAtLoad</key>
    <true/>
    <key>KeepAlive</key>
    <dict>
      <key>SuccessfulExit</key>
      <false/>
    </dict>
    <key>ThrottleInterval</key>
    <integer>10</integer>
    <key>ExitTimeOut</key>
    <integer>30</integer>
    <key>ProcessType</key>
    <string>Interactive</string>
    <key>StandardOutPath</key>
    <string>${xml(spec.logFile)}</string>
    <key>StandardErrorPath</key>
    <string>${xml(spec.logFile)}</string>
  </dict>
</plist>
`;
    },
    async install(run) {
      // A previous version of the agent is replaced: bootstrap refuses a label already loaded.
      await run('launchctl', ['bootout', `${domain}/${name}`], { timeoutMs: 30_000 });
      const loaded = await run('launchctl', ['bootstrap', domain, file], { timeoutMs: 30_000 });
      if (loaded.exitCode !== 0) throw new ServiceError(`launchctl bootstrap ${domain} ${file} failed: ${loaded.stderr.trim() || `exit ${loaded.exitCode}`}`);
    },
    async uninstall(run) {
      const unloaded = await run('launchctl', ['bootout', `${domain}/${name}`], { timeoutMs: 60_000 });
      // 3 / "No such process": it was not loaded, which is what uninstall wants.
      if (unloaded.exitCode !== 0 && !/no such process|not find/i.test(unloaded.stderr) && unloaded.exitCode !== 3) {
        throw new ServiceError(`launchctl bootout ${domain}/${name} failed: ${unloaded.stderr.trim() || `exit ${unloaded.exitCode}`}`);
      }
    },
    async status(run) {
      const shown = await run('launchctl', ['print', `${domain}/${name}`], { timeoutMs: 30_000 });
      if (shown.exitCode !== 0) return { running: false, detail: 'not loaded in launchd' };
      const field = (key: string) => new RegExp(`^\\s*${key} = (.+)$`, 'm').exec(shown.stdout)?.[1]?.trim();
      const state = field('state') ?? 'unknown';
      const pid = field('pid');
      const lastExit = field('last exit code');
      return { running: state === 'running', detail: `launchd: ${state}${pid ? `, pid ${pid}` : ''}${lastExit ? `, last exit ${lastExit}` : ''}` };
    },
  };
}

/** One word of ExecStart, quoted as systemd reads it (specifiers and variables escaped). */
const unitWord = (word: string) => `"${word.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('%', '%%').replaceAll('$', '$$$$')}"`;

function systemdTarget(port: number, configHome: string): ServiceTarget {
  const name = `mlx-guard-${port}.service`;
  const file = join(configHome, 'systemd', 'user', name);
  const systemctl = (run: Runner, ...args: string[]) => run('systemctl', ['--user', ...args], { timeoutMs: 60_000 });
  return {
    kind: 'systemd',
    name,
    file,
    render(spec) {
      check(spec);
      const exec = [spec.node, spec.cli, 'start', ...spec.startArgs].map(unitWord).join(' ');
      const env = Object.entries(spec.env).map(([key, value]) => `Environment=${unitWord(`${key}=${value}`)}`);
      return `[Unit]
Description=mlx-guard on port ${port}: a resilience sidecar for a local model server
After=network.target

[Service]
Type=simple
ExecStart=${exec}
${env.join('\n')}
# Exit codes (README, "Exit codes"): 2 and 3 need a person, so restarting cannot help; 4 (the
# model server gave up) and crashes are worth another try.
Restart=on-failure
RestartSec=5
RestartPreventExitStatus=2 3
# mlx-guard stops its model server itself on SIGTERM; anything left after the timeout is killed.
KillMode=mixed
TimeoutStopSec=30
StandardOutput=append:${spec.logFile}
StandardError=append:${spec.logFile}

[Install]
WantedBy=default.target
`;
    },
    async install(run) {
      for (const args of [['daemon-reload'], ['enable', '--now', name], ['restart', name]]) {
        const result = await systemctl(run, ...args);
        if (result.exitCode !== 0) throw new ServiceError(`systemctl --user ${args.join(' ')} failed: ${result.stderr.trim() || `exit ${result.exitCode}`}`);
      }
    },
    async uninstall(run) {
      await systemctl(run, 'disable', '--now', name);
      await systemctl(run, 'daemon-reload');
    },
    async status(run) {
      const shown = await systemctl(run, 'show', name, '--property=ActiveState,SubState,MainPID,ExecMainStatus');
      const field = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(shown.stdout)?.[1];
      const active = field('ActiveState') ?? 'unknown';
      return { running: active === 'active', detail: `systemd: ${active} (${field('SubState') ?? '?'}), pid ${field('MainPID') ?? '?'}, last exit ${field('ExecMainStatus') ?? '?'}` };
    },
  };
}

/** Writes the unit file (readable by the user alone: it may hold the API key) and its log folder. */
export function writeUnit(target: ServiceTarget, spec: ServiceSpec): void {
  mkdirSync(dirname(target.file), { recursive: true });
  mkdirSync(dirname(spec.logFile), { recursive: true, mode: 0o700 });
  writeFileSync(target.file, target.render(spec), { mode: 0o600 });
}

export function removeUnit(target: ServiceTarget): boolean {
  if (!existsSync(target.file)) return false;
  rmSync(target.file);
  return true;
}

/** Read from the end of the log for `logs`: enough for the lines asked, never the whole file. */
const TAIL_BYTES = 256 * 1024;

/** The last lines of the service's log. */
export function tailLog(logFile: string, lines: number): string {
  if (!existsSync(logFile)) return '';
  const fd = openSync(logFile, 'r');
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer.toString('utf8').split('\n').slice(-lines - 1).join('\n');
  } finally {
    closeSync(fd);
  }
}
