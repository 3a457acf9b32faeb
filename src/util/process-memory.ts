import { readFile } from 'node:fs/promises';
import { execa } from 'execa';

/**
 * A process's resident memory in bytes, or undefined when it cannot be read (gone, not ours).
 * Linux reads /proc; macOS asks `ps`, whose RSS of an MLX process includes the Metal buffers
 * of its model, since memory there is unified.
 */
export async function residentBytes(pid: number, platform: NodeJS.Platform = process.platform): Promise<number | undefined> {
  try {
    const kilobytes =
      platform === 'linux'
        ? /^VmRSS:\s+(\d+)\s+kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]
        : (await execa('ps', ['-o', 'rss=', '-p', String(pid)], { timeout: 2_000 })).stdout.trim();
    const value = Number(kilobytes);
    return kilobytes && Number.isFinite(value) ? value * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Processes' resident memory, each reading kept `forMs`: a status asked for in a loop must not run
 * `ps` (macOS) for each ask. It holds no more readings than processes read within that time.
 */
export class MemoryReadings {
  readonly #readings = new Map<number, { at: number; bytes: Promise<number | undefined> }>();

  constructor(
    readonly forMs = 2_000,
    readonly now: () => number = Date.now,
  ) {}

  read(pid: number): Promise<number | undefined> {
    const now = this.now();
    for (const [read, { at }] of this.#readings) if (now - at > this.forMs) this.#readings.delete(read);
    let reading = this.#readings.get(pid);
    if (!reading) this.#readings.set(pid, (reading = { at: now, bytes: residentBytes(pid) }));
    return reading.bytes;
  }
}
