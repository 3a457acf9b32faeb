import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * One client connection as the slots see it: the request on it now (none while it sends headers
 * or idles between keep-alive requests), and since when it has been in its current phase.
 */
interface Slot {
  since: number;
  /** Requests answered on it: none yet means it is still sending its first headers. */
  served: number;
  req: IncomingMessage | undefined;
  res: ServerResponse | undefined;
}

/**
 * How long a new connection has to show it is a request before it may be closed for another: a
 * real client sends its headers at once, and is served within it. Closing at once instead closed
 * ordinary clients caught in a burst of attackers reconnecting together (3 `/health` checks in
 * 426 under 600 trickled headers, each closed before its request was read).
 */
export const EVICT_AFTER_MS = 100;

/**
 * The server's connection slots, held against a client that takes them to do nothing with them.
 * A connection is *serving* while its request's body is in and its response is not finished;
 * otherwise it is *waiting*: headers or a body still arriving (a slow client, or a slowloris
 * attack), or idle between keep-alive requests. Past `max`, every newcomer is let in, and within
 * `EVICT_AFTER_MS` the connections waiting longest are closed until `max` are left (one still
 * sending before one idle between requests), never one being served nor one younger than that;
 * past twice `max`, at once. Only when no connection can give its place (all serving, or all just
 * arrived) is a newcomer refused. So trickled
 * headers and bodies cannot keep `/health` or anyone else out.
 *
 * Node's own `maxConnections` refuses the newcomer instead, which is what let 600 trickling
 * sockets shut everyone out; it is not used.
 */
export class ConnectionSlots {
  readonly #slots = new Map<Socket, Slot>();
  #evicted = 0;
  #refused = 0;
  #trimming: NodeJS.Timeout | undefined;

  constructor(
    readonly max: number,
    readonly now: () => number = performance.now.bind(performance),
  ) {}

  /** Follows `server`'s connections from now on. */
  watch(server: Server): void {
    server.on('connection', (socket: Socket) => this.#admit(socket));
  }

  /** A request arrived on its connection (called first thing by the request handler). */
  request(req: IncomingMessage, res: ServerResponse): void {
    const slot = this.#slots.get(req.socket);
    if (!slot) return;
    slot.req = req;
    slot.res = res;
    slot.since = this.now();
    res.once('finish', () => {
      if (slot.res !== res) return;
      slot.req = undefined;
      slot.res = undefined;
      slot.served++;
      slot.since = this.now();
    });
  }

  get stats(): { open: number; evicted: number; refused: number } {
    return { open: this.#slots.size, evicted: this.#evicted, refused: this.#refused };
  }

  #admit(socket: Socket): void {
    // Past twice `max`, room is made now, if any connection is old enough to give it.
    if (this.#slots.size >= 2 * this.max && !this.#evictOne(this.now() - EVICT_AFTER_MS)) {
      this.#refused++;
      socket.destroy();
      return;
    }
    this.#slots.set(socket, { since: this.now(), served: 0, req: undefined, res: undefined });
    socket.once('close', () => this.#slots.delete(socket));
    if (this.#slots.size > this.max) this.#trimSoon();
  }

  #trimSoon(): void {
    if (this.#trimming) return;
    this.#trimming = setTimeout(() => {
      this.#trimming = undefined;
      this.#trim();
    }, EVICT_AFTER_MS);
    this.#trimming.unref();
  }

  /** Closes the connections waiting longest until `max` are left; those too young yet, on the next pass. */
  #trim(): void {
    const before = this.now() - EVICT_AFTER_MS;
    while (this.#slots.size > this.max && this.#evictOne(before));
    if (this.#slots.size > this.max) this.#trimSoon();
  }

  /** Closes the connection waiting longest since before `before`; false if there is none. */
  #evictOne(before: number): boolean {
    const victim = this.#longestWaiting(before);
    if (!victim) return false;
    this.#evicted++;
    this.#slots.delete(victim);
    victim.destroy();
    return true;
  }

  /** The connection to close: sending longest, else idle longest, in its phase since before `before`; never one being served. */
  #longestWaiting(before: number): Socket | undefined {
    let sending: Socket | undefined;
    let sendingSince = Infinity;
    let idle: Socket | undefined;
    let idleSince = Infinity;
    for (const [socket, slot] of this.#slots) {
      const { req, since } = slot;
      if (since > before) continue;
      // Headers not yet in on a fresh connection, or a body still arriving.
      if ((req === undefined && slot.served === 0) || (req !== undefined && !req.complete)) {
        if (since < sendingSince) [sending, sendingSince] = [socket, since];
      } else if (req === undefined && since < idleSince) [idle, idleSince] = [socket, since];
    }
    return sending ?? idle;
  }
}
