import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { z } from 'zod';
import type { Logger } from '../observability/logger.js';

/** A process as `ps` shows it: enough to tell it from a later process that reuses its pid. */
export interface ProcessIdentity {
  pid: number;
  pgid: number;
  /** `ps -o lstart` as printed (to the second), compared exactly. */
  started: string;
  /** The full command line as `ps -ww -o command` prints it, compared exactly. */
  command: string;
}

/** Who runs which model server: one file per mlx-guard process, named by its pid. */
export interface ChildRecord {
  version: 1;
  owner: ProcessIdentity;
  child: ProcessIdentity;
  port: number;
}

const identity = z.object({
  pid: z.number().int().min(2),
  pgid: z.number().int().min(2),
  started: z.string().min(1),
  command: z.string().min(1),
});
const recordSchema = z.object({ version: z.literal(1), owner: identity, child: identity, port: z.number().int() });

/** `child-<owner pid>.json`, or `child-<owner pid>-<slot>.json` for each of several model servers one mlx-guard runs. */
const RECORD_NAME = /^child-(\d+)(?:-[a-z0-9]{1,32})?\.json$/;
const MAX_RECORD_BYTES = 64 * 1024;

/** The default place for records: private to the user, one per machine and user. */
export function defaultRunDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'mlx-guard') : join(homedir(), '.mlx-guard', 'run');
}

export class RunDirError extends Error {
  override name = 'RunDirError';
}

/** `ps` on one pid (the same flags on macOS and Linux); undefined when no such process. */
export async function inspectProcess(pid: number): Promise<ProcessIdentity | undefined> {
  const ps = await execa('ps', ['-ww', '-o', 'pgid=,lstart=,command=', '-p', String(pid)], { reject: false, timeout: 5_000, env: { LC_ALL: 'C' }, stdin: 'ignore' });
  const match = /^\s*(\d+)\s+(\w{3} \w{3}\s+\d+ \d\d:\d\d:\d\d \d{4}) (.*)$/.exec(String(ps.stdout).trimEnd());
  if (ps.exitCode !== 0 || !match) return undefined;
  return { pid, pgid: Number(match[1]), started: match[2]!, command: match[3]!.trim() };
}

const sameProcess = (a: ProcessIdentity | undefined, b: ProcessIdentity) =>
  a !== undefined && a.pid === b.pid && a.pgid === b.pgid && a.started === b.started && a.command === b.command;

/**
 * Records of running model servers, so that a later mlx-guard can end a group its dead owner
 * left behind, and only that. Nothing here ever signals a process that a record merely names:
 * the directory must be the user's own and private, the file the user's own regular file, the
 * group leader a process whose pid, group, start time and full command line all match, and the
 * recorded owner gone. Several instances share the directory and leave each other alone.
 */
export class ChildRecords {
  readonly #uid: number;

  readonly #slot: string | undefined;

  /**
   * `slot` tells apart the records of several model servers one mlx-guard runs at once (one per
   * model): each writes and removes its own file, and none is mistaken for another's.
   */
  constructor(
    readonly dir: string,
    uid: number = process.getuid?.() ?? 0,
    slot?: string,
  ) {
    if (slot !== undefined && !/^[a-z0-9]{1,32}$/.test(slot)) throw new RangeError(`a record slot is 1 to 32 lowercase letters and digits, not "${slot}"`);
    this.#uid = uid;
    this.#slot = slot;
  }

  /** Creates the directory (0700) or checks the one there; a RunDirError names what is wrong. */
  async prepare(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const stat = await lstat(this.dir);
    const fix = `remove it, or choose another with the supervisor option runDir`;
    if (!stat.isDirectory()) throw new RunDirError(`${this.dir} is not a directory (a link?); ${fix}`);
    if (stat.uid !== this.#uid) throw new RunDirError(`${this.dir} belongs to uid ${stat.uid}, not to this user (${this.#uid}); ${fix}`);
    if ((stat.mode & 0o077) !== 0) throw new RunDirError(`${this.dir} is open to other users (mode ${(stat.mode & 0o777).toString(8)}); run chmod 700 on it, or ${fix}`);
  }

  #path(ownerPid: number): string {
    return join(this.dir, this.#slot === undefined ? `child-${ownerPid}.json` : `child-${ownerPid}-${this.#slot}.json`);
  }

  /** Written 0600 beside its final name without following links, then renamed into place. */
  async write(record: ChildRecord): Promise<void> {
    const final = this.#path(record.owner.pid);
    const temporary = `${final}.${process.hrtime.bigint()}.tmp`;
    const file = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      await file.writeFile(JSON.stringify(record));
    } finally {
      await file.close();
    }
    await rename(temporary, final);
  }

  async remove(ownerPid: number): Promise<void> {
    await rm(this.#path(ownerPid), { force: true });
  }

  /**
   * Ends the model-server groups whose owners are gone (SIGTERM, then SIGKILL after `graceMs`)
   * and removes their records; records that fail any check are removed without a signal.
   */
  async sweep(logger: Logger, graceMs: number): Promise<void> {
    for (const name of await readdir(this.dir)) {
      if (!RECORD_NAME.test(name)) continue;
      const path = join(this.dir, name);
      const record = await this.#read(path);
      if (record === 'foreign') {
        logger.warn({ event: 'child_record_refused', path }, `ignoring ${path}: not a private regular file of this user`);
        continue;
      }
      if (record === undefined || Number(RECORD_NAME.exec(name)![1]) !== record.owner.pid) {
        logger.warn({ event: 'child_record_refused', path }, `removing ${path}: not a valid record`);
        await rm(path, { force: true });
        continue;
      }
      if (sameProcess(await inspectProcess(record.owner.pid), record.owner)) continue;
      if (record.child.pid !== record.child.pgid) {
        logger.warn({ event: 'child_record_refused', path }, `removing ${path}: its child does not lead its group`);
      } else if (sameProcess(await inspectProcess(record.child.pid), record.child)) {
        logger.warn({ event: 'stale_child', ...record.child, ownerPid: record.owner.pid }, `ending model server group ${record.child.pgid} left by mlx-guard ${record.owner.pid}, which is gone`);
        await endGroup(record.child, graceMs);
      } else {
        logger.info({ event: 'child_record_stale', path, childPid: record.child.pid }, `removing ${path}: its owner is gone and no running process is the model server it names`);
      }
      await rm(path, { force: true });
    }
  }

  /** The record, 'foreign' for a file that is not this user's private regular file, undefined when unreadable. */
  async #read(path: string): Promise<ChildRecord | 'foreign' | undefined> {
    const stat = await lstat(path).catch(() => undefined);
    if (!stat) return undefined;
    if (!stat.isFile() || stat.uid !== this.#uid || (stat.mode & 0o077) !== 0 || stat.size > MAX_RECORD_BYTES) return 'foreign';
    try {
      const file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        const parsed = recordSchema.safeParse(JSON.parse(await file.readFile('utf8')));
        return parsed.success ? parsed.data : undefined;
      } finally {
        await file.close();
      }
    } catch {
      return undefined;
    }
  }
}

async function endGroup(leader: ProcessIdentity, graceMs: number): Promise<void> {
  for (const [signal, waitMs] of [['SIGTERM', graceMs], ['SIGKILL', 5_000]] as const) {
    try {
      process.kill(-leader.pgid, signal);
      // A stopped (SIGSTOP) group holds SIGTERM until it runs again.
      if (signal === 'SIGTERM') process.kill(-leader.pgid, 'SIGCONT');
    } catch {
      return;
    }
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      if (!sameProcess(await inspectProcess(leader.pid), leader)) return;
      await sleep(50);
    }
  }
}
