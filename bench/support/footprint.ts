// What a process costs, read from Linux's /proc (undefined elsewhere): its resident memory, and
// the CPU time its main thread has used, to the nanosecond (schedstat), so that a bench can give
// the main thread's CPU per streamed token. Threads are tasks of the process; the main one has
// the process's own id.
import { readFileSync } from 'node:fs';

/** Resident memory in MB, or undefined where /proc is not there. */
export function residentMb(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

/** CPU time the process's main thread has run, in ns, or undefined where /proc is not there. */
export function mainThreadCpuNs(pid: number): number | undefined {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return undefined;
  }
}
