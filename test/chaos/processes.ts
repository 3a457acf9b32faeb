import { execFileSync } from 'node:child_process';

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

export function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}
