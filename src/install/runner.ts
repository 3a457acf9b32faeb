import { execa } from 'execa';

/** The outcome of one command: what the setup and service commands need to judge and report it. */
export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program with arguments (no shell), within a deadline. Injected, so tests can record the
 * exact commands and answer for the machine (launchctl, pip) without touching it.
 */
export type Runner = (file: string, args: readonly string[], options?: { timeoutMs?: number; env?: Record<string, string> }) => Promise<RunResult>;

export const runCommand: Runner = async (file, args, options = {}) => {
  const result = await execa(file, [...args], { reject: false, timeout: options.timeoutMs ?? 600_000, stdin: 'ignore', ...(options.env ? { env: options.env } : {}) });
  const stderr = result.failed && result.exitCode === undefined ? `${String(result.stderr ?? '')}${result.shortMessage ?? ''}` : String(result.stderr ?? '');
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout ?? ''), stderr };
};
