import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { execa } from 'execa';

/** Who the model server was, so a later mlx-guard can end it if this one died without cleaning up. */
export interface ChildRecord {
  pid: number;
  /** The child leads its own process group: pgid === pid. */
  pgid: number;
  port: number;
  startedAt: number;
  /** Enough of the command line to recognise it again (PID reuse). */
  command: string;
}

export async function writeChildRecord(path: string, record: ChildRecord): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, JSON.stringify(record, null, 2));
}

export async function removeChildRecord(path: string): Promise<void> {
  await rm(path, { force: true });
}

export async function readChildRecord(path: string): Promise<ChildRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(path, 'utf8')) as Partial<ChildRecord>;
    const valid = [record.pid, record.pgid, record.port, record.startedAt].every((n) => Number.isInteger(n)) && typeof record.command === 'string';
    return valid ? (record as ChildRecord) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the process `record` names is still the one it was: same group, same command, started
 * within a few seconds of the recorded time (`ps` works alike on macOS and Linux).
 */
export async function stillRunning(record: ChildRecord): Promise<boolean> {
  const ps = await execa('ps', ['-o', 'pgid=,lstart=,command=', '-p', String(record.pid)], {
    reject: false,
    timeout: 5_000,
    env: { LC_ALL: 'C' },
  });
  const match = /^\s*(\d+)\s+(\w{3} \w{3}\s+\d+ \d\d:\d\d:\d\d \d{4})\s+(.*)$/.exec(String(ps.stdout).trim());
  if (ps.exitCode !== 0 || !match) return false;
  const [, pgid, started, command] = match;
  return Number(pgid) === record.pgid && command!.includes(record.command) && Math.abs(Date.parse(started!) - record.startedAt) < 5_000;
}
