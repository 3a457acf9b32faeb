import { within } from '../util/deadlines.js';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import type { LaunchPlan } from './launch-plan.js';
import { startReaper } from './reaper.js';

export interface ChildExit {
  code: number | null;
  signal: string | null;
  /** Set when the process could not be started at all (ENOENT, EACCES). */
  spawnError?: string;
  /** Set when even SIGKILL did not end it in time (a process stuck in the kernel). */
  unkillable?: true;
}

/** How long to wait for the exit after SIGKILL before reporting the process as unkillable. */
const KILL_WAIT_MS = 5_000;

export interface ProcessObserver {
  onLine(stream: 'stdout' | 'stderr', line: string): void;
  /** A JSON line from the host's event stream (fd 3). */
  onEvent(event: Record<string, unknown>): void;
}

/**
 * One model-server process in its own process group (so a stop reaches whatever it started),
 * with its output read line by line and never buffered whole: a server that logs for days must
 * not hit a buffer limit.
 */
export class ModelServerProcess {
  readonly pid: number | undefined;
  readonly exited: Promise<ChildExit>;
  #exit: ChildExit | undefined;
  /** For a server outside the host: ends its group if mlx-guard ends without stopping it. */
  readonly #reaper: { disarm(): void } | undefined;

  constructor(plan: LaunchPlan, port: number, observer: ProcessObserver) {
    const [file, args] = plan.argv(port);
    // stdin stays an open pipe for the child's whole life: the host exits when it closes, which is
    // how a killed mlx-guard (even SIGKILL) still takes the model server with it.
    const subprocess = execa(file, args, {
      detached: true,
      buffer: false,
      reject: false,
      cleanup: false,
      env: plan.env,
      // Only what the plan allow-listed (childEnvironment), not all of mlx-guard's environment.
      extendEnv: false,
      stdio: ['pipe', 'pipe', 'pipe', plan.viaHost ? 'pipe' : 'ignore'],
    });
    this.pid = subprocess.pid;
    // The host watches its stdin for that itself; any other server gets a watchdog beside it.
    this.#reaper = !plan.viaHost && this.pid !== undefined ? startReaper(this.pid) : undefined;
    readLines(subprocess.stdout, (line) => observer.onLine('stdout', line));
    readLines(subprocess.stderr, (line) => observer.onLine('stderr', line));
    if (plan.viaHost) {
      readLines(subprocess.stdio[3] as Readable, (line) => {
        try {
          observer.onEvent(JSON.parse(line) as Record<string, unknown>);
        } catch {
          observer.onLine('stdout', line);
        }
      });
    }
    this.exited = subprocess.then((result) => {
      // Our end of the watchdog pipe would otherwise keep this process alive after the child is gone.
      subprocess.stdin?.destroy();
      this.#exit = {
        code: result.exitCode ?? null,
        signal: result.signal ?? null,
        ...(result.failed && result.exitCode === undefined && !result.signal ? { spawnError: result.shortMessage } : {}),
      };
      return this.#exit;
    });
  }

  get hasExited(): boolean {
    return this.#exit !== undefined;
  }

  /** Signals the whole process group; false if it is already gone. */
  signalGroup(signal: NodeJS.Signals): boolean {
    if (this.pid === undefined) return false;
    try {
      process.kill(-this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * SIGTERM to the group, SIGKILL after `graceMs`, and wait for the exit (Metal memory is only
   * freed then). Never SIGINT: mlx_lm.server joins its generation thread on SIGINT and can hang.
   */
  async stop(graceMs: number): Promise<ChildExit> {
    if (!this.hasExited) {
      this.signalGroup('SIGTERM');
      // A stopped (SIGSTOP) process holds SIGTERM until it runs again; let it run and die now.
      this.signalGroup('SIGCONT');
      if ((await within(this.exited, graceMs, 'grace over' as const)) === 'grace over') this.signalGroup('SIGKILL');
    }
    const exit = await within<ChildExit, ChildExit>(this.exited, KILL_WAIT_MS, { code: null, signal: null, unkillable: true });
    // The leader is gone; anything it started in its group goes too.
    this.signalGroup('SIGKILL');
    this.#reaper?.disarm();
    return exit;
  }
}

function readLines(stream: Readable | null | undefined, onLine: (line: string) => void): void {
  if (!stream) return;
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', onLine);
}
