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
  /** How often each installed hook has fired since the launch (a newer host; older ones omit it). */
  fired: z.record(z.string(), z.number().int().nonnegative()).optional(),
});

export interface Heartbeat {
  /** When it arrived here (the supervisor's clock, not the child's). */
  at: number;
  busy: number;
  stalledMs: number;
  instrumented: boolean;
  genAlive: boolean | null;
  fired: Record<string, number>;
}

/** The heartbeat in a host event, or undefined when the event is something else or malformed. */
export function readHeartbeat(event: Record<string, unknown>, at: number): Heartbeat | undefined {
  if (event.event !== 'heartbeat') return undefined;
  const parsed = heartbeatLine.safeParse(event);
  if (!parsed.success) return undefined;
  const { busy, stalled_ms, instrumented, gen_alive, fired } = parsed.data;
  return { at, busy, stalledMs: stalled_ms, instrumented, genAlive: gen_alive, fired: fired ?? {} };
}

/**
 * What one hook of the host's heartbeat stands for: a prefill chunk, a decode step, a step of
 * either kind, a request, or the generation thread found.
 */
const hookLine = z.object({
  name: z.string(),
  kind: z.enum(['prefill', 'decode', 'step', 'request', 'thread']),
  installed: z.boolean(),
  /** Whether this mlx_lm version should have the function hooked. */
  expected: z.boolean(),
});
const hooksEvent = z.object({ event: z.literal('hooks'), version: z.string(), hooks: z.array(hookLine), missing: z.array(z.string()) });

export type HookInfo = z.output<typeof hookLine>;

/** The host's hooks, as its `hooks` event lists them once per launch. */
export interface HostHooks {
  version: string;
  hooks: HookInfo[];
  /** Expected for this version and not found: detection inside the generation loop is weaker. */
  missing: string[];
}

export function readHooks(event: Record<string, unknown>): HostHooks | undefined {
  if (event.event !== 'hooks') return undefined;
  const parsed = hooksEvent.safeParse(event);
  return parsed.success ? { version: parsed.data.version, hooks: parsed.data.hooks, missing: parsed.data.missing } : undefined;
}
