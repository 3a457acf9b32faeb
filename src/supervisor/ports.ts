import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';

/**
 * Where a model server's port is drawn from: below every system's ephemeral range (Linux
 * 32768–60999 by default, macOS and IANA 49152–65535). A port the kernel hands out for `listen(0)`
 * or for an outgoing connection comes from the ephemeral range, so during the seconds between our
 * test bind and the child's own bind such a port can be taken by any connection this machine opens;
 * a port below the range can only be taken by a program that names it.
 */
export const PORT_RANGE = { first: 20_000, end: 32_768 } as const;

const TRIES = 32;
/** Ports this process handed out lately, so two launches at once never get the same one. */
const RECENT_LIMIT = 256;
const recent: number[] = [];

/** A port free on `host` a moment ago, outside the ephemeral range when the system allows it. */
export async function freePort(host: string, random: () => number = Math.random): Promise<number> {
  if ((await ephemeralFloor()) >= PORT_RANGE.end) {
    for (let i = 0; i < TRIES; i++) {
      const port = PORT_RANGE.first + Math.floor(random() * (PORT_RANGE.end - PORT_RANGE.first));
      if (recent.includes(port)) continue;
      if ((await tryPort(host, port)) !== undefined) return handedOut(port);
    }
  }
  // The range is crowded or the system's ephemeral range reaches into it: the kernel's choice.
  const port = await tryPort(host, 0);
  if (port === undefined) throw new Error(`no port could be bound on ${host}`);
  return handedOut(port);
}

function handedOut(port: number): number {
  recent.push(port);
  if (recent.length > RECENT_LIMIT) recent.shift();
  return port;
}

/** The first ephemeral port, read once per process: Linux says it in /proc; elsewhere the IANA range the BSDs use. */
let floor: Promise<number> | undefined;
const ephemeralFloor = () => (floor ??= readEphemeralFloor());

async function readEphemeralFloor(): Promise<number> {
  if (process.platform !== 'linux') return 49_152;
  try {
    const first = Number.parseInt((await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/)[0]!, 10);
    return Number.isFinite(first) ? first : 32_768;
  } catch {
    return 32_768; // no /proc (a container without it): the kernel's default
  }
}

/** Binds `port` (0: the kernel's choice) on `host` and lets it go: the port bound, or undefined if it was taken. */
function tryPort(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host, exclusive: true }, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : undefined));
    });
  });
}
