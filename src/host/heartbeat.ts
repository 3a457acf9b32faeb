import { z } from 'zod';

/**
 * One heartbeat line from native-host/mlx_host.py (written every second by a thread of its own,
 * inside the model server's interpreter). Unknown fields are dropped: a newer host may say more.
 */
const heartbeatLine = z.object({
  event: z.literal('heartbeat'),
  /** Requests the server is serving (accepted, not finished). */
  busy: z.number().int().nonnegative(),
  /** While busy: how long the generation loop has gone without a step (prefill chunk or decode step). */
  stalled_ms: z.number().nonnegative(),
  /** Whether step hooks could be installed in this server version; without them `stalled_ms` says nothing. */
  instrumented: z.boolean(),
  /** Whether the generation thread lives (null when the server has none, as mlx_lm <= 0.28.3). */
  gen_alive: z.boolean().nullable(),
});

export interface Heartbeat {
  /** When it arrived here (the supervisor's clock, not the child's). */
  at: number;
  busy: number;
  stalledMs: number;
  instrumented: boolean;
  genAlive: boolean | null;
}

/** The heartbeat in a host event, or undefined when the event is something else or malformed. */
export function readHeartbeat(event: Record<string, unknown>, at: number): Heartbeat | undefined {
  if (event.event !== 'heartbeat') return undefined;
  const parsed = heartbeatLine.safeParse(event);
  if (!parsed.success) return undefined;
  const { busy, stalled_ms, instrumented, gen_alive } = parsed.data;
  return { at, busy, stalledMs: stalled_ms, instrumented, genAlive: gen_alive };
}
