import { readFile } from 'node:fs/promises';
import { execa } from 'execa';

/**
 * The kernel's queue of connections not yet accepted holds as many as mlx-guard's connection
 * slots take in before they refuse (twice `maxConnections`). When it is full the kernel drops a
 * newcomer's SYN, and that client waits for its retransmission, a full second: 600 connections
 * arriving together while mlx-guard was busy made an ordinary client wait 1,026 ms. Node's
 * default (511) is shorter than the slots.
 */
export const acceptBacklog = (maxConnections: number): number => 2 * maxConnections;

/**
 * The longest queue the operating system grants a `listen`, whatever it is asked for
 * (`net.core.somaxconn` on Linux, 4096 by default since 5.4; `kern.ipc.somaxconn` on macOS, 128
 * by default); undefined where it cannot be read.
 */
export async function acceptQueueCap(platform: NodeJS.Platform = process.platform): Promise<number | undefined> {
  try {
    const text =
      platform === 'linux'
        ? await readFile('/proc/sys/net/core/somaxconn', 'utf8')
        : platform === 'darwin'
          ? (await execa('sysctl', ['-n', 'kern.ipc.somaxconn'], { timeout: 2_000 })).stdout
          : undefined;
    const cap = Number(text?.trim());
    return Number.isInteger(cap) && cap > 0 ? cap : undefined;
  } catch {
    return undefined;
  }
}

/** The sysctl that raises the cap to `backlog`, for the warning that names it. */
export function raiseCapCommand(backlog: number, platform: NodeJS.Platform = process.platform): string {
  return platform === 'darwin' ? `sudo sysctl -w kern.ipc.somaxconn=${backlog}` : `sudo sysctl -w net.core.somaxconn=${backlog}`;
}
