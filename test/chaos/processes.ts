import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Process {
  pid: number;
  stat: string;
  args: string;
}

/** Every live (not zombie) process whose command line contains `tag`, by `ps`. */
export function processesTagged(tag: string): Process[] {
  const table = execFileSync('ps', ['-A', '-ww', '-o', 'pid=,stat=,args='], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  const found: Process[] = [];
  for (const line of table.split('\n')) {
    const match = /^\s*(\d+)\s+(\S+)\s+(.*)$/.exec(line);
    if (!match || match[2]!.startsWith('Z') || !match[3]!.includes(tag)) continue;
    found.push({ pid: Number(match[1]), stat: match[2]!, args: match[3]! });
  }
  return found;
}

/** Resident memory of `pid` in MiB (its worker threads included), or undefined once it is gone. */
export function residentMiB(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (match) return Number(match[1]) / 1024;
  } catch {
    // not Linux, or gone: ask ps
  }
  try {
    const kib = Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim());
    return Number.isFinite(kib) && kib > 0 ? kib / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}
