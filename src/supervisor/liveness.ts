import { setTimeout as sleep } from 'node:timers/promises';
import { canary, healthProbe, type Endpoint } from './canary.js';
import type { Heartbeat } from './heartbeat.js';
import type { ResolvedSupervisorOptions } from './options.js';

export type LivenessOptions = ResolvedSupervisorOptions['liveness'];

/** Why a ready model server is judged dead (each is a restart cause). */
export type DeathCause = 'frozen' | 'wedged' | 'zombie' | 'liveness';

/** What the supervisor knows of a ready model server at one moment. */
export interface Observations {
  /** When watching began (the server became ready). */
  since: number;
  /** The last heartbeat from the host, when the server runs inside it. */
  heartbeat: Heartbeat | undefined;
  /** mlx-guard's requests to the server that have not ended. */
  inflight: number;
  /** The last progress any of them made (headers, a keepalive, a token), or when the first began. */
  lastProgressAt: number;
  /** Consecutive failed `/health` probes (servers without the host). */
  probeFailures: number;
  /** How the last of them failed (`HTTP 500`, `no answer within 2000 ms`, a connection error). */
  lastProbeFailure?: string;
}

export type Verdict =
  | { kind: 'alive' }
  | { kind: 'dead'; cause: DeathCause; detail: string }
  /** Requests stalled on a server that cannot say why: a canary decides. */
  | { kind: 'suspect'; detail: string };

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/**
 * The verdict on a ready model server, from progress, never from how long an answer takes
 * (README, "Failure detection"):
 * - in the host: no heartbeat for `heartbeatTimeoutMs` = frozen; a dead generation thread =
 *   zombie; busy with no generation step for `stallMs` = wedged;
 * - outside it: `/health` failed (no answer, or not 200) `probeFailures` times while no request
 *   progressed = frozen;
 * - anywhere: requests in flight with no progress for `stallMs` = suspect (a livelock, or a
 *   server mlx-guard cannot see inside), which a canary confirms or clears.
 * The server is alive while any request makes progress.
 */
export function judgeLiveness(seen: Observations, now: number, options: LivenessOptions, hosted: boolean): Verdict {
  if (hosted) {
    const silentFor = now - (seen.heartbeat?.at ?? seen.since);
    if (silentFor >= options.heartbeatTimeoutMs) {
      return { kind: 'dead', cause: 'frozen', detail: `no heartbeat for ${seconds(silentFor)}: the process is not running (stopped, deadlocked, or the machine is swapping)` };
    }
    const beat = seen.heartbeat;
    if (beat?.genAlive === false) return { kind: 'dead', cause: 'zombie', detail: 'the generation thread is dead (/health would still answer)' };
    if (beat && beat.instrumented && beat.busy > 0 && beat.stalledMs >= options.stallMs) {
      return { kind: 'dead', cause: 'wedged', detail: `busy with ${beat.busy} request(s) and no generation step for ${seconds(beat.stalledMs)}` };
    }
  } else if (seen.probeFailures >= options.probeFailures && now - seen.lastProgressAt >= options.probeTimeoutMs) {
    const how = seen.lastProbeFailure === undefined ? '' : ` (last: ${seen.lastProbeFailure})`;
    return { kind: 'dead', cause: 'frozen', detail: `/health failed ${seen.probeFailures} times in a row${how} and no request made progress` };
  }
  const stalledFor = now - seen.lastProgressAt;
  if (seen.inflight > 0 && stalledFor >= options.stallMs) return { kind: 'suspect', detail: `${seen.inflight} request(s) made no progress for ${seconds(stalledFor)}` };
  return { kind: 'alive' };
}

/** A tick that runs this much later than planned means the event loop itself was stalled. */
const LATE_TICK_MS = 1_000;
const TICK_MS = 250;

export interface LivenessSources {
  heartbeat(): Heartbeat | undefined;
  inflight(): number;
  lastProgressAt(): number;
  onDead(cause: DeathCause, detail: string): void;
  onSuspicion?(detail: string, confirmed: boolean): void;
}

/**
 * Watches a ready model server until `stop()`: verdicts every 250 ms, `/health` probes when the
 * server runs outside the host, a canary only to confirm a suspicion (or, when configured, while
 * idle). Calls `onDead` once.
 */
export function watchLiveness(endpoint: Endpoint, options: LivenessOptions, hosted: boolean, sources: LivenessSources, now: () => number = Date.now): { stop(): void } {
  const abort = new AbortController();
  const since = now();
  let probeFailures = 0;
  let lastProbeFailure: string | undefined;
  let idleCanaryFailures = 0;
  /** A suspicion a canary cleared counts as progress: the server does generate. */
  let clearedAt = since;
  let lastIdleCanaryAt = since;
  let checking = false;
  let planned = since + TICK_MS;

  const dead = (cause: DeathCause, detail: string) => {
    if (abort.signal.aborted) return;
    stop();
    sources.onDead(cause, detail);
  };

  /** One canary at a time; the verdicts that need none go on meanwhile. */
  const runCanary = async () => {
    checking = true;
    try {
      return await canary(endpoint, options.canaryTimeoutMs, abort.signal);
    } finally {
      checking = false;
    }
  };

  const confirm = async (detail: string) => {
    const result = await runCanary();
    if (abort.signal.aborted) return;
    sources.onSuspicion?.(detail, !result.ok);
    if (result.ok) clearedAt = now();
    else dead('wedged', `${detail}, and a canary failed: ${result.reason}`);
  };

  const idleCanary = async () => {
    const result = await runCanary();
    lastIdleCanaryAt = now();
    if (abort.signal.aborted) return;
    if (result.ok) idleCanaryFailures = 0;
    else if (++idleCanaryFailures >= options.probeFailures) dead('liveness', `${idleCanaryFailures} idle canaries failed; last: ${result.reason}`);
  };

  const tick = () => {
    const at = now();
    const late = at - planned > LATE_TICK_MS;
    planned = at + TICK_MS;
    // After a stall of this process, heartbeats may still wait unread in the pipe: judge next time.
    if (late) return;
    const seen: Observations = {
      since,
      heartbeat: sources.heartbeat(),
      inflight: sources.inflight(),
      lastProgressAt: Math.max(sources.lastProgressAt(), clearedAt),
      probeFailures,
      ...(lastProbeFailure !== undefined ? { lastProbeFailure } : {}),
    };
    const verdict = judgeLiveness(seen, at, options, hosted);
    if (verdict.kind === 'dead') dead(verdict.cause, verdict.detail);
    else if (checking) return;
    else if (verdict.kind === 'suspect') void confirm(verdict.detail);
    else if (options.idleCanaryIntervalMs > 0 && seen.inflight === 0 && at - Math.max(lastIdleCanaryAt, seen.lastProgressAt) >= options.idleCanaryIntervalMs) void idleCanary();
  };

  const probe = async () => {
    while (!abort.signal.aborted) {
      const result = await healthProbe(endpoint, options.probeTimeoutMs, abort.signal);
      probeFailures = result.ok ? 0 : probeFailures + 1;
      lastProbeFailure = result.ok ? undefined : result.reason;
      // timers/promises takes its abort listener off again: one added per probe would pile up for as long as the server lives.
      await sleep(options.probeIntervalMs, undefined, { signal: abort.signal }).catch(() => undefined);
    }
  };

  const ticker = setInterval(tick, TICK_MS);
  function stop() {
    abort.abort();
    clearInterval(ticker);
  }

  if (!hosted) void probe();
  return { stop };
}
