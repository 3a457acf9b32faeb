// The records that let a start end a model server its dead owner left behind, and nothing else:
// every forged or planted record is refused before any signal.
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ChildRecords, inspectProcess, RunDirError, type ChildRecord, type ProcessIdentity } from '../../../src/supervisor/child-records.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { Supervisor } from '../../../src/supervisor/index.js';
import { isAlive, privateDir, python, spawnProcess, until } from '../../support/processes.js';

/** A process that no longer exists: the owner of a record left by an mlx-guard that died. */
async function goneOwner(): Promise<ProcessIdentity> {
  const owner = spawnProcess('sleep', ['30']);
  const identity = (await inspectProcess(owner.pid))!;
  process.kill(owner.pid, 'SIGKILL');
  await owner.exited();
  return identity;
}

/** A live group leader standing in for a model server, and its identity. */
async function groupLeader(): Promise<{ pid: number; identity: ProcessIdentity; exited: () => Promise<{ signal: NodeJS.Signals | null }> }> {
  const child = spawnProcess('sleep', ['30']);
  // spawn returns once the child has exec'd, so ps already shows its command line.
  const identity = (await inspectProcess(child.pid))!;
  return { pid: child.pid, identity, exited: () => child.exited() };
}

function plant(dir: string, record: unknown, ownerPid: number, mode = 0o600, slot?: string): string {
  const path = join(dir, slot === undefined ? `child-${ownerPid}.json` : `child-${ownerPid}-${slot}.json`);
  writeFileSync(path, JSON.stringify(record), { mode });
  chmodSync(path, mode);
  return path;
}

async function sweep(dir: string): Promise<void> {
  const records = new ChildRecords(dir);
  await records.prepare();
  await records.sweep(silentLogger, 1_000);
}

describe('child records', () => {
  it('a group whose owner is gone is ended (SIGTERM) and its record removed', async () => {
    const dir = privateDir();
    const owner = await goneOwner();
    const child = await groupLeader();
    plant(dir, { version: 1, owner, child: child.identity, port: 1 } satisfies ChildRecord, owner.pid);
    await sweep(dir);
    expect((await child.exited()).signal).toBe('SIGTERM');
  });

  it('a group whose owner still runs (another instance) is left alone', async () => {
    const dir = privateDir();
    const owner = spawnProcess('sleep', ['30']);
    const ownerIdentity = (await inspectProcess(owner.pid))!;
    const child = await groupLeader();
    const path = plant(dir, { version: 1, owner: ownerIdentity, child: child.identity, port: 1 }, owner.pid);
    await sweep(dir);
    expect(isAlive(child.pid)).toBe(true);
    expect(existsSync(path)).toBe(true);
  });

  it('each model server of one mlx-guard has its own record: writing one leaves the others, and a gone owner\'s are all ended', async () => {
    const dir = privateDir();
    const owner = await goneOwner();
    const [first, second] = [await groupLeader(), await groupLeader()];
    const paths = [plant(dir, { version: 1, owner, child: first.identity, port: 1 }, owner.pid, 0o600, 'm0'), plant(dir, { version: 1, owner, child: second.identity, port: 2 }, owner.pid, 0o600, 'm1')];
    await sweep(dir);
    expect((await first.exited()).signal).toBe('SIGTERM');
    expect((await second.exited()).signal).toBe('SIGTERM');
    expect(paths.filter((path) => existsSync(path))).toEqual([]);

    const live = privateDir();
    const self = (await inspectProcess(process.pid))!;
    const third = await groupLeader();
    const records = [new ChildRecords(live, undefined, 'm0'), new ChildRecords(live, undefined, 'm1')];
    await records[0]!.prepare();
    await records[0]!.write({ version: 1, owner: self, child: third.identity, port: 1 });
    await records[1]!.write({ version: 1, owner: self, child: self, port: 2 });
    await records[1]!.remove(process.pid);
    expect(JSON.parse(readFileSync(join(live, `child-${process.pid}-m0.json`), 'utf8')).child.pid).toBe(third.pid);
    expect(() => new ChildRecords(live, undefined, '../x')).toThrow(RangeError);
    process.kill(third.pid, 'SIGKILL');
  });

  const forgeries: Array<[string, (record: ChildRecord) => unknown]> = [
    ['an empty command (which every command line contains)', (r) => ({ ...r, child: { ...r.child, command: '' } })],
    ['pgid 0 (the caller’s own group)', (r) => ({ ...r, child: { ...r.child, pid: 0, pgid: 0 } })],
    ['pgid 1 (every process the user can reach)', (r) => ({ ...r, child: { ...r.child, pid: 1, pgid: 1 } })],
    ['a pid that does not lead its group', (r) => ({ ...r, child: { ...r.child, pgid: r.child.pgid + 1 } })],
    ['another command line (a recycled pid)', (r) => ({ ...r, child: { ...r.child, command: `${r.child.command} x` } })],
    ['a part of the command line only', (r) => ({ ...r, child: { ...r.child, command: 'sleep' } })],
    ['another start time (a recycled pid)', (r) => ({ ...r, child: { ...r.child, started: 'Thu Jan  1 00:00:00 1970' } })],
    ['a file named for another owner', (r) => ({ ...r, owner: { ...r.owner, pid: r.owner.pid + 1 } })],
  ];
  for (const [what, forge] of forgeries) {
    it(`never signals on a forged record: ${what}`, async () => {
      const dir = privateDir();
      const owner = await goneOwner();
      const child = await groupLeader();
      plant(dir, forge({ version: 1, owner, child: child.identity, port: 1 }), owner.pid);
      await sweep(dir);
      expect(isAlive(child.pid)).toBe(true);
    });
  }

  it('never reads a record that is a link, open to others, or another user’s file', async () => {
    const owner = await goneOwner();
    const child = await groupLeader();
    const record: ChildRecord = { version: 1, owner, child: child.identity, port: 1 };

    const linked = privateDir();
    const elsewhere = join(privateDir(), 'real.json');
    writeFileSync(elsewhere, JSON.stringify(record), { mode: 0o600 });
    symlinkSync(elsewhere, join(linked, `child-${owner.pid}.json`));
    await sweep(linked);

    const open = privateDir();
    plant(open, record, owner.pid, 0o644);
    await sweep(open);

    // Seen by another user, this user's file is a foreign one (the directory check is prepare's).
    const foreign = privateDir();
    plant(foreign, record, owner.pid);
    await new ChildRecords(foreign, (process.getuid?.() ?? 0) + 1).sweep(silentLogger, 1_000);
    expect(isAlive(child.pid)).toBe(true);
  });

  it('refuses a directory that is open to others, a link, or another user’s', async () => {
    const open = join(privateDir(), 'open');
    mkdirSync(open, { mode: 0o755 });
    chmodSync(open, 0o755);
    await expect(new ChildRecords(open).prepare()).rejects.toThrow(/open to other users \(mode 755\); run chmod 700/);

    const link = join(privateDir(), 'link');
    symlinkSync(privateDir(), link);
    await expect(new ChildRecords(link).prepare()).rejects.toThrow(RunDirError);

    await expect(new ChildRecords(privateDir(), (process.getuid?.() ?? 0) + 1).prepare()).rejects.toThrow(/belongs to uid \d+, not to this user/);
  });
});

describe('a model server started through a version manager\'s shim', () => {
  it('is recorded again once ready, as the process the shim exec\'d into: a later sweep would know it', async () => {
    const dir = privateDir();
    // As pyenv's shims do: a shell that looks things up, then execs the real Python in the same process.
    const shim = join(dir, 'python3-shim');
    writeFileSync(shim, `#!/bin/sh\nsleep 0.3\nexec ${python} "$@"\n`, { mode: 0o755 });
    const runDir = privateDir();
    const supervisor = new Supervisor({ backend: 'standin', python: shim, runDir, stop: { graceMs: 1_000 } });
    try {
      await supervisor.start();
      const file = join(runDir, `child-${process.pid}.json`);
      const running = (await inspectProcess(supervisor.status.pid!))!;
      expect(running.command).not.toContain('python3-shim');
      await until('the record of what runs now', () => {
        const record = JSON.parse(readFileSync(file, 'utf8')) as ChildRecord;
        return JSON.stringify(record.child) === JSON.stringify(running) ? true : undefined;
      }, 5_000);
    } finally {
      await supervisor.stop();
    }
  });
});

describe('two instances on one machine', () => {
  const fixture = fileURLToPath(new URL('../../fixtures/supervised.ts', import.meta.url));
  const start = async (runDir: string) => {
    const guard = spawnProcess(process.execPath, ['--import', 'tsx', fixture, runDir]);
    const { childPid } = await until('the supervised child', () => (guard.stdout[0] ? (JSON.parse(guard.stdout[0]) as { childPid: number }) : undefined), 15_000);
    return { guard, childPid };
  };

  it('starting and stopping either leaves the other’s model server running', async () => {
    const runDir = privateDir();
    const first = await start(runDir);
    const second = await start(runDir);
    expect(isAlive(first.childPid)).toBe(true);
    process.kill(second.guard.pid, 'SIGTERM');
    expect(await second.guard.exited(10_000)).toEqual({ code: 0, signal: null });
    expect(isAlive(second.childPid)).toBe(false);
    const third = await start(runDir);
    expect(isAlive(first.childPid)).toBe(true);
    expect(isAlive(third.childPid)).toBe(true);
  }, 40_000);
});
