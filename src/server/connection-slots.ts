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
 * Connections beyond `max` that are let in when every slot is serving a request: room for
 * `/health` and an ordinary client when the slots are full of work. These are evictable too.
 */
export const SLOT_RESERVE = 16;

/**
 * The server's connection slots, held against a client that takes them to do nothing with them.
 * A connection is *serving* while its request's body is in and its response is not finished;
 * otherwise it is *waiting*: headers or a body still arriving (a slow client, or a slowloris
 * attack), or idle between keep-alive requests. When a new connection finds every slot taken, the
 * connection waiting longest is closed for it (one still sending before one idle between
 * requests), never one being served; only when all are served is the new one refused, past a
 * small reserve. So trickled headers and bodies cannot keep `/health` or anyone else out.
 *
 * Node's own `maxConnections` refuses the newcomer instead, which is what let 600 trickling
 * sockets shut everyone out; it is not used.
 */
export class ConnectionSlots {
  readonly #slots = new Map<Socket, Slot>();
  #evicted = 0;
  #refused = 0;

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
    if (this.#slots.size >= this.max) {
      const victim = this.#longestWaiting();
      if (victim) {
        this.#evicted++;
        this.#slots.delete(victim);
        victim.destroy();
      } else if (this.#slots.size >= this.max + SLOT_RESERVE) {
        this.#refused++;
        socket.destroy();
        return;
      }
    }
    this.#slots.set(socket, { since: this.now(), served: 0, req: undefined, res: undefined });
    socket.once('close', () => this.#slots.delete(socket));
  }

  /** The connection to close for a newcomer: sending longest, else idle longest; never one being served. */
  #longestWaiting(): Socket | undefined {
    let sending: Socket | undefined;
    let sendingSince = Infinity;
    let idle: Socket | undefined;
    let idleSince = Infinity;
    for (const [socket, slot] of this.#slots) {
      const { req, since } = slot;
      // Headers not yet in on a fresh connection, or a body still arriving.
      if ((req === undefined && slot.served === 0) || (req !== undefined && !req.complete)) {
        if (since < sendingSince) [sending, sendingSince] = [socket, since];
      } else if (req === undefined && since < idleSince) [idle, idleSince] = [socket, since];
    }
    return sending ?? idle;
  }
}
