// What Linux's /proc says of a process: CPU time, resident memory, its environment. No vitest
// import here: bench/ and the chaos campaign (run outside vitest) read it too.
import { readFileSync } from 'node:fs';

/** utime + stime of a process and all its threads, in milliseconds (USER_HZ is 100 on Linux). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Resident memory, in MB. */
export function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/**
 * A variable of the environment the process was started with (a key mlx-guard gave its model
 * server for one launch, say): readable only by the same user. Undefined when unset or gone.
 */
export function environmentVariable(pid: number, name: string): string | undefined {
  try {
    const entry = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((line) => line.startsWith(`${name}=`));
    return entry?.slice(name.length + 1);
  } catch {
    return undefined;
  }
}
