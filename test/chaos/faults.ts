// The fault catalogue the campaign draws from, and how each is injected into the running stand-in:
// through its control endpoint, its launch-faults file, or a signal to the model server process.
import { rmSync, writeFileSync } from 'node:fs';
import type { Guard } from './guard.js';
import { signalProcess } from './processes.js';
import type { Random } from './random.js';

export const FAULT_WEIGHTS = {
  /** SIGABRT after a few tokens, with the Metal out-of-memory line (the stand-in's crash). */
  metal_abort: 10,
  /** SIGKILL from outside (the OOM killer, a segfault). */
  crash: 8,
  /** SIGSTOP: the whole process frozen (swapping, a debugger, a deadlock of every thread). */
  freeze: 7,
  /** The generation blocks after its prefill: /health answers, nothing progresses. */
  wedge: 5,
  /** The generation thread dies: /health OK, every completion hangs. */
  zombie: 7,
  /** A share of completions answered HTTP 500. */
  error_storm: 9,
  /** A share of completions' connections closed with no response. */
  drop_storm: 9,
  /** Tokens come slowly: answers run long. */
  slow_tokens: 10,
  /** Prompts take seconds to process: long prefills, with keepalives. */
  long_prefill: 8,
  /** The next launch fails while loading (a traceback, exit 1), or loads slowly. */
  load_failure: 6,
} as const;

export type FaultKind = keyof typeof FAULT_WEIGHTS;

export interface Episode {
  kind: FaultKind;
  detail: string;
  start: number;
  end: number;
  /** False when no model server was serving to take it (it was restarting): nothing was injected. */
  injected: boolean;
}

/** How long an episode waits for a serving model server to inject its fault into. */
const READY_WITHIN_MS = 10_000;
/** How long an episode keeps trying to clear its faults from a server that is busy restarting or unreachable. */
const CLEAR_WITHIN_MS = 120_000;

/** Waits `ms`, or less when `signal` ends the campaign first. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

/**
 * One fault as drawn from the seed, before anything runs: the schedule depends on the seed only,
 * never on timing. `faults` are set through the control endpoint and `clear` undoes them; a
 * `signal` goes to the server process; `launch` arms the stand-in's launch-faults file.
 */
export interface EpisodePlan {
  kind: FaultKind;
  detail: string;
  holdMs: number;
  faults?: Record<string, unknown>;
  clear?: Record<string, unknown>;
  signal?: 'SIGKILL' | 'SIGSTOP';
  launch?: Record<string, unknown>;
}

/** What an episode of `kind` does, drawn from `rng`. */
export function planEpisode(kind: FaultKind, rng: Random): EpisodePlan {
  const set = (faults: Record<string, unknown>, clear: Record<string, unknown>, holdMs: number, detail: string): EpisodePlan => ({ kind, detail, holdMs, faults, clear });
  switch (kind) {
    case 'metal_abort': {
      const tokens = rng.int(0, 12);
      return set({ crash_after_tokens: tokens }, { crash_after_tokens: null }, rng.int(2_000, 15_000), `abort after ${tokens} tokens`);
    }
    case 'crash':
      return { kind, detail: 'SIGKILL', holdMs: 0, signal: 'SIGKILL' };
    case 'freeze':
      return { kind, detail: 'SIGSTOP, then SIGCONT unless it was restarted', holdMs: rng.int(1_000, 12_000), signal: 'SIGSTOP' };
    case 'wedge': {
      const ms = rng.int(3_000, 75_000);
      return set({ hang_after_prefill: true }, { hang_after_prefill: false }, ms, `generation blocked after prefill for ${ms} ms`);
    }
    case 'zombie':
      return set({ zombie: true }, { zombie: false }, rng.int(2_000, 20_000), 'generation thread dies');
    case 'error_storm': {
      const rate = rng.pick([0.3, 0.6, 1]);
      return set({ error_rate: rate }, { error_rate: 0 }, rng.int(2_000, 15_000), `HTTP 500 for ${rate * 100} % of completions`);
    }
    case 'drop_storm': {
      const rate = rng.pick([0.3, 0.6, 1]);
      return set({ drop_rate: rate }, { drop_rate: 0 }, rng.int(2_000, 15_000), `${rate * 100} % of connections dropped`);
    }
    case 'slow_tokens': {
      const ms = rng.pick([50, 150, 400]);
      return set({ token_delay_ms: ms }, { token_delay_ms: 0 }, rng.int(5_000, 30_000), `${ms} ms per token`);
    }
    case 'long_prefill': {
      // Prompts are processed one at a time, so each one prefilled meanwhile delays all after it:
      // a few seconds each, for a while, already queues minutes of work.
      const ms = rng.int(1_000, 6_000);
      return set({ prefill_ms: ms }, { prefill_ms: 0 }, rng.int(5_000, 20_000), `${ms} ms prefills`);
    }
    case 'load_failure': {
      const slow = rng.chance(0.3);
      const launch = slow ? { load_time_ms: rng.int(2_000, 8_000) } : { exit_during_load: true };
      return { kind, detail: slow ? 'SIGKILL; the next launches load slowly' : 'SIGKILL; the next launches fail while loading', holdMs: rng.int(500, 5_000), signal: 'SIGKILL', launch };
    }
  }
}

/** The schedule for a seed: a calm gap, then an episode, until `durationMs` is used up (holds counted). */
export function planSchedule(rng: Random, durationMs: number): Array<{ gapMs: number; plan: EpisodePlan }> {
  const schedule: Array<{ gapMs: number; plan: EpisodePlan }> = [];
  for (let at = 0; ; ) {
    const gapMs = rng.int(3_000, 15_000);
    at += gapMs;
    if (at >= durationMs) return schedule;
    const plan = planEpisode(rng.weighted(FAULT_WEIGHTS), rng);
    schedule.push({ gapMs, plan });
    at += plan.holdMs;
  }
}

/** Injects one planned fault into the server serving now, holds it, and clears it. */
export async function runEpisode(guard: Guard, plan: EpisodePlan, signal: AbortSignal): Promise<Episode> {
  const start = Date.now();
  const { kind, detail } = plan;
  // A server that is restarting gets a few seconds to be back before the fault is given up.
  let pid: number | undefined;
  for (const giveUpAt = start + READY_WITHIN_MS; pid === undefined && Date.now() < giveUpAt && !signal.aborted; ) {
    const status = await guard.status().catch(() => undefined);
    if (status?.state === 'ready' || status?.state === 'degraded') pid = status.pid;
    else await pause(250, signal);
  }
  const episode = (injected: boolean, why = detail): Episode => ({ kind, detail: why, start, end: Date.now(), injected });
  if (pid === undefined) return episode(false, 'no model server serving');
  if (plan.faults) {
    if (!(await guard.setFaults(plan.faults))) return episode(false);
    await pause(plan.holdMs, signal);
    // Run-time faults end with the process they were set on: the episode lasts until they are
    // cleared, or until that process is gone.
    for (const giveUpAt = Date.now() + CLEAR_WITHIN_MS; Date.now() < giveUpAt && !signal.aborted; await pause(500, signal)) {
      if (await guard.setFaults(plan.clear ?? {})) break;
      if ((await guard.status().catch(() => undefined))?.pid !== pid) break;
    }
    return episode(true);
  }
  if (plan.launch) writeFileSync(guard.launchFaults, JSON.stringify(plan.launch));
  const sent = signalProcess(pid, plan.signal!);
  await pause(plan.holdMs, signal);
  if (plan.signal === 'SIGSTOP') signalProcess(pid, 'SIGCONT');
  if (plan.launch) rmSync(guard.launchFaults, { force: true });
  return episode(sent);
}
