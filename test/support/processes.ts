import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, expect } from 'vitest';

export { freePort } from './ports.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const nativeHost = `${repoRoot}native-host`;
export const python = process.env.MLX_GUARD_TEST_PYTHON ?? 'python3';

/** A new private (0700) directory, e.g. the supervisor's runDir for one test. */
export function privateDir(prefix = 'mlx-guard-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Polls `check` (awaited, when it is async) until it gives a value other than undefined, or fails naming `what` at the deadline. */
export async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface Spawned {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every stderr line so far. */
  readonly stderr: string[];
  readonly stdout: string[];
  /** Parsed JSON lines from file descriptor 3 (the host's events), if it was opened. */
  readonly events: Array<Record<string, unknown>>;
  /** Resolves with the exit code or signal; bounded by a deadline. */
  exited(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The port from the server's "Starting httpd at … on port N..." line. */
  port(timeoutMs?: number): Promise<number>;
}

/** Processes started inside a test end with it; those started in beforeAll end with the file. */
const perTest = new Set<ChildProcess>();
const perFile = new Set<ChildProcess>();

async function endAll(children: Set<ChildProcess>): Promise<void> {
  for (const child of children) killGroup(child, 'SIGKILL');
  await Promise.all([...children].map((child) => waitForExit(child, 5_000)));
  children.clear();
}

afterEach(() => endAll(perTest));
afterAll(() => endAll(perFile));

/** Signals the child's whole process group (each spawned child leads its own), even after the leader exited. */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group is already gone
  }
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`process ${child.pid} still running after ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

function lines(stream: NodeJS.ReadableStream | null, sink: (line: string) => void): void {
  let pending = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    pending += chunk;
    const parts = pending.split('\n');
    pending = parts.pop()!;
    for (const part of parts) sink(part);
  });
}

export interface SpawnOptions {
  env?: Record<string, string>;
  /** Where it runs (default: the repository). */
  cwd?: string;
  /** Open file descriptor 3 and collect JSON lines from it. */
  events?: boolean;
}

/** Starts a process in its own process group, with stdin as a pipe the test holds. */
export function spawnProcess(command: string, args: string[], options: SpawnOptions = {}): Spawned {
  const child = spawn(command, args, {
    cwd: options.cwd ?? repoRoot,
    detached: true,
    env: { ...process.env, PYTHONUNBUFFERED: '1', ...options.env },
    stdio: options.events ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'],
  });
  (expect.getState().currentTestName === undefined ? perFile : perTest).add(child);
  const stderr: string[] = [];
  const stdout: string[] = [];
  const events: Array<Record<string, unknown>> = [];
  lines(child.stderr, (line) => stderr.push(line));
  lines(child.stdout, (line) => stdout.push(line));
  if (options.events) lines(child.stdio[3] as NodeJS.ReadableStream, (line) => events.push(JSON.parse(line) as Record<string, unknown>));
  return {
    child,
    pid: child.pid!,
    stderr,
    stdout,
    events,
    exited: (timeoutMs = 5_000) => waitForExit(child, timeoutMs),
    port: (timeoutMs = 5_000) =>
      until(
        `"Starting httpd" from pid ${child.pid} (stderr so far: ${stderr.slice(-3).join(' | ')})`,
        () => {
          for (const line of stderr) {
            const match = / - INFO - Starting httpd at \S+ on port (\d+)\.\.\./.exec(line);
            if (match) return Number(match[1]);
          }
          if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode} before listening:\n${stderr.join('\n')}`);
          return undefined;
        },
        timeoutMs,
      ),
  };
}

/** The stand-in on 127.0.0.1 and an ephemeral port; resolves once it listens. */
export async function startStandin(args: string[] = [], options: SpawnOptions = {}): Promise<Spawned & { baseUrl: string; portNumber: number }> {
  const spawned = spawnProcess(python, [`${nativeHost}/standin`, '--port', '0', ...args], options);
  const portNumber = await spawned.port();
  return { ...spawned, portNumber, baseUrl: `http://127.0.0.1:${portNumber}` };
}

/**
 * Whether `pid` is a running process. An orphan whose new parent never reaps it (PID 1 in some
 * sandboxes) lingers as a zombie that `kill(pid, 0)` still finds; on Linux its state says so.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** Like `until`, for a check that must wait on the outside world (a socket, an HTTP answer). */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 5_000, pauseMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

