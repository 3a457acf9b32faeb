// One chaos campaign: mlx-guard at its defaults in front of the stand-in, a seeded schedule of
// faults and client behaviours for a while, every invariant checked as it goes, then recovery,
// the replayed answers compared with fresh ones, and an ending with nothing left behind.
import { setMaxListeners } from 'node:events';
import { rmSync } from 'node:fs';
import { FAULT_WEIGHTS, pause, planSchedule, runEpisode, type Episode, type FaultKind } from './faults.js';
import { Guard } from './guard.js';
import { judge, Timeline, type Violation } from './invariants.js';
import { residentMb } from '../../bench/support/footprint.js';
import { configSchema } from '../../src/config.js';
import { processesTagged, signalProcess } from './processes.js';
import { Random } from './random.js';
import { describeAnswer, planRequest, sameAnswer, send, type Behaviour, type Outcome, type RequestPlan } from './traffic.js';

/** mlx-guard's defaults the invariants refer to, as its config schema gives them: a request's deadline, its replays, the model server's stop grace. */
const DEFAULTS = configSchema.parse({});
const DEADLINE_MS = DEFAULTS.inference.deadlineMs;
const MAX_REPLAYS = DEFAULTS.replay.maxPerRequest;
const STOP_GRACE_MS = DEFAULTS.supervisor.stop.graceMs;
/** mlx-guard's resident memory must stay under this (about four times its idle size under tsx). */
export const MEMORY_BOUND_MIB = 512;
/** A cool-down (60 s) after a spent restart budget, plus the backoff before it. */
const RECOVERY_WITHIN_MS = 150_000;
/** Replayed answers compared again at the end, at most. */
const MAX_VERIFIED = 60;

const BEHAVIOUR_WEIGHTS: Readonly<Record<Behaviour, number>> = { plain: 50, tools: 15, long_prefill: 4, abort: 8, slow_reader: 8, bad_input: 5, poison: 1, drop: 2 };
const ENDINGS = ['SIGTERM', 'SIGINT', 'SIGINT twice', 'SIGKILL'] as const;

export interface CampaignOptions {
  seed: number;
  durationMs: number;
  /** Clients sending one request after another (default 4); bursts come on top. */
  clients?: number;
  progress?: (line: string) => void;
  /** Where to keep mlx-guard's log lines (JSON), to read after a violation. */
  logFile?: string;
}

export interface Report {
  seed: number;
  durationMs: number;
  faults: Record<string, { injected: number; skipped: number }>;
  requests: number;
  outcomes: Record<string, number>;
  replayed: number;
  verified: number;
  restarts: Record<string, number>;
  memoryMiB: { first: number; max: number; last: number };
  /** Seconds spent after the faults stopped: the last requests ending, recovery, the comparison of answers, the ending. */
  tailSeconds: { settling: number; recovery: number; comparing: number; ending: number };
  ending: string;
  checks: number;
  violations: Violation[];
}

export async function runCampaign(options: CampaignOptions): Promise<Report> {
  const { seed, durationMs, clients = 4, progress = () => undefined } = options;
  const root = new Random(seed);
  const timeline = new Timeline();
  const violations: Violation[] = [];
  const violate = (what: string) => violations.push({ at: Date.now(), what });
  const guard = await Guard.start((record) => timeline.take(record), options.logFile);
  const teardown = new AbortController();
  // Every request in flight listens for the teardown: admission bounds them, not this limit.
  setMaxListeners(Infinity, teardown.signal);
  const episodes: Episode[] = [];
  const outcomes: Outcome[] = [];
  const memory: number[] = [];
  let checks = 0;
  let requestId = 0;
  const stopAt = Date.now() + durationMs;
  const sendOne = (plan: RequestPlan, rng: Random) => send(plan, ++requestId, rng, { url: guard.url, deadlineMs: DEADLINE_MS + 10_000, signal: teardown.signal });
  progress(`seed ${seed}: mlx-guard serving at ${guard.url}, chaos for ${Math.round(durationMs / 1000)} s`);

  // Watchers: memory, and processes of the campaign that are not mlx-guard or its current server.
  const strangers = new Map<number, number>();
  let servingPid: number | undefined;
  let overBound = false;
  const watch = setInterval(() => {
    const mib = residentMb(guard.pid);
    if (mib !== undefined) {
      memory.push(mib);
      checks++;
      // Said once, at the first crossing: the maximum is in the report.
      if (mib > MEMORY_BOUND_MIB && !overBound) violate(`mlx-guard's resident memory ${mib.toFixed(0)} MiB is over ${MEMORY_BOUND_MIB} MiB`);
      overBound ||= mib > MEMORY_BOUND_MIB;
    }
    void guard.status().then(
      (status) => (servingPid = status.pid),
      () => undefined,
    );
    const now = Date.now();
    for (const process of processesTagged(guard.dir)) {
      if (process.pid === guard.pid || process.pid === servingPid) continue;
      checks++;
      const since = strangers.get(process.pid) ?? now;
      strangers.set(process.pid, since);
      if (now - since > STOP_GRACE_MS + 10_000 && since !== -1) {
        violate(`process ${process.pid} (${process.args.slice(0, 120)}) outlived its launch by ${now - since} ms`);
        strangers.set(process.pid, -1);
      }
    }
  }, 1_000);

  const faultDriver = (async () => {
    for (const { gapMs, plan } of planSchedule(root.fork(1), durationMs)) {
      await pause(gapMs, teardown.signal);
      if (Date.now() >= stopAt || teardown.signal.aborted) break;
      const episode = await runEpisode(guard, plan, teardown.signal);
      episodes.push(episode);
      progress(`${new Date(episode.start).toISOString()} ${episode.injected ? 'fault' : 'skipped'}: ${plan.kind} (${episode.detail}), ${episode.end - episode.start} ms`);
    }
  })();
  const client = async (rng: Random) => {
    while (Date.now() < stopAt && !teardown.signal.aborted) {
      const behaviour = rng.weighted(BEHAVIOUR_WEIGHTS);
      outcomes.push(await sendOne(planRequest(rng, `${seed}-${requestId}`, behaviour), rng));
      await pause(rng.int(0, 500), teardown.signal);
    }
  };
  const bursts = async (rng: Random) => {
    for (;;) {
      await pause(rng.int(10_000, 30_000), teardown.signal);
      if (Date.now() >= stopAt || teardown.signal.aborted) return;
      const size = rng.int(8, 32);
      const sent = Array.from({ length: size }, () => sendOne(planRequest(rng, `${seed}-${requestId}`, rng.chance(0.8) ? 'plain' : 'tools'), rng));
      outcomes.push(...(await Promise.all(sent)));
    }
  };
  try {
    await Promise.all([faultDriver, bursts(root.fork(2)), ...Array.from({ length: clients }, (_, i) => client(root.fork(10 + i)))]);
    const lap = stopwatch(stopAt);
    const settling = lap();

    // Recovery: every fault cleared, the server serves again, and answers.
    rmSync(guard.launchFaults, { force: true });
    if (servingPid !== undefined) signalProcess(servingPid, 'SIGCONT');
    const recoveredBy = Date.now() + RECOVERY_WITHIN_MS;
    let recovered = false;
    while (Date.now() < recoveredBy && !recovered) {
      await guard.setFaults({ zombie: false, hang_after_prefill: false, crash_after_tokens: null, error_rate: 0, drop_rate: 0, token_delay_ms: 0, prefill_ms: 0 });
      const final = await sendOne(planRequest(root, `${seed}-final`, 'plain'), root);
      recovered = final.status === 200 && final.complete;
      if (!recovered) await pause(1_000, teardown.signal);
    }
    checks++;
    if (!recovered) violate(`no 200 within ${RECOVERY_WITHIN_MS} ms once the faults were cleared (state ${timeline.state})`);

    const recovery = lap();
    // Whole answers replayed across a restart are the answers the server gives when nothing fails.
    const replayedOnes = outcomes.filter((o) => o.answer && o.complete && o.status === 200 && (o.replayed || timeline.lossesDuring(o.start, o.end) > 0));
    const others = outcomes.filter((o) => o.answer && o.complete && o.status === 200 && !replayedOnes.includes(o));
    const verify = [...replayedOnes.slice(0, MAX_VERIFIED), ...others.filter((_, i) => i % Math.max(1, Math.floor(others.length / 10)) === 0).slice(0, 10)];
    let verified = 0;
    for (const original of recovered ? verify : []) {
      // Read at full speed this time: the answer is what is compared, not the reader.
      const again = await sendOne({ ...original, behaviour: 'plain' }, root);
      checks++;
      if (again.status !== 200 || !again.answer) violate(`request ${original.id} sent again after the campaign: ${again.status} ${again.error?.code ?? again.transport ?? ''}`);
      else if (!sameAnswer(original.answer!, again.answer)) violate(`request ${original.id} (${original.replayed ? 'replayed' : 'in flight at a loss'}) answered ${describeAnswer(original.answer!)}, but ${describeAnswer(again.answer)} when sent again`);
      else verified++;
    }
    const inflight = (await guard.status().catch(() => undefined))?.inflight;
    checks++;
    if (inflight !== 0) violate(`${inflight} request(s) still in flight after every client was answered`);

    const comparing = lap();
    // Every client's outcome, judged against what happened while it ran.
    const poisoned = new Set<string>();
    for (const outcome of [...outcomes].sort((a, b) => a.end - b.end)) {
      checks++;
      const why = judge(outcome, { timeline, episodes, maxReplays: MAX_REPLAYS, deadlineMs: DEADLINE_MS, poisoned });
      if (why) violations.push({ at: outcome.end, what: `request ${outcome.id} (${outcome.api}, ${outcome.stream ? 'streamed' : 'whole'}, ${outcome.behaviour}): ${why}` });
      if (outcome.error?.code === 'poison_request' || /this request (was being served|failed on its own)/.test(outcome.error?.message ?? '')) poisoned.add(outcome.body);
    }

    // However mlx-guard ends, nothing of the campaign is left.
    const ending = root.pick(ENDINGS);
    clearInterval(watch);
    guard.signal(ending === 'SIGINT twice' ? 'SIGINT' : ending);
    if (ending === 'SIGINT twice') setTimeout(() => guard.signal('SIGINT'), 200).unref();
    const exited = await guard.exited(STOP_GRACE_MS + 20_000);
    checks++;
    if (exited === 'running') violate(`mlx-guard still running ${STOP_GRACE_MS + 20_000} ms after ${ending}`);
    let left = processesTagged(guard.dir);
    for (const until = Date.now() + 15_000; left.length > 0 && Date.now() < until; left = processesTagged(guard.dir)) await new Promise((resolve) => setTimeout(resolve, 250));
    checks++;
    if (left.length > 0) violate(`after ${ending}, still running: ${left.map((p) => `${p.pid} ${p.args.slice(0, 100)}`).join('; ')}`);
    for (const line of guard.stderr) violate(`mlx-guard wrote to stderr: ${line.slice(0, 300)}`);

    const endingSeconds = lap();
    const faults: Report['faults'] = {};
    for (const kind of Object.keys(FAULT_WEIGHTS) as FaultKind[]) faults[kind] = { injected: 0, skipped: 0 };
    for (const episode of episodes) faults[episode.kind]![episode.injected ? 'injected' : 'skipped']++;
    const tally: Record<string, number> = {};
    for (const o of outcomes) {
      const key = o.clientAborted ? 'aborted by the client' : o.transport ? 'no answer' : o.status === 200 && !o.error ? '200' : `${o.status} ${o.error?.code ?? ''}${o.error?.inStream ? ' (in the stream)' : ''}`;
      tally[key] = (tally[key] ?? 0) + 1;
    }
    return {
      seed,
      durationMs,
      faults,
      requests: outcomes.length,
      outcomes: tally,
      replayed: outcomes.filter((o) => o.replayed).length,
      verified,
      restarts: timeline.restartCauses,
      memoryMiB: { first: memory[0] ?? NaN, max: Math.max(...memory), last: memory.at(-1) ?? NaN },
      tailSeconds: { settling, recovery, comparing, ending: endingSeconds },
      ending,
      checks: checks + timeline.checks,
      violations: [...timeline.violations, ...violations].sort((a, b) => a.at - b.at),
    };
  } finally {
    teardown.abort();
    clearInterval(watch);
    guard.killGroup();
    for (const process of processesTagged(guard.dir)) signalProcess(process.pid, 'SIGKILL');
    rmSync(guard.dir, { recursive: true, force: true });
  }
}

/** Seconds since `from`, then since the last call. */
function stopwatch(from: number): () => number {
  let last = from;
  return () => {
    const now = Date.now();
    const seconds = Math.round((now - last) / 100) / 10;
    last = now;
    return seconds;
  };
}

/** The report as printed by `npm run chaos` and by the CI test. */
export function formatReport(report: Report): string {
  const lines = [
    `chaos seed ${report.seed}, ${(report.durationMs / 60_000).toFixed(1)} min of faults`,
    `  faults injected: ${Object.entries(report.faults).map(([kind, n]) => `${kind} ${n.injected}${n.skipped ? ` (+${n.skipped} skipped)` : ''}`).join(', ')}`,
    `  restarts by cause: ${Object.entries(report.restarts).map(([cause, n]) => `${cause} ${n}`).join(', ') || 'none'}`,
    `  requests: ${report.requests}; ${Object.entries(report.outcomes).sort(([, a], [, b]) => b - a).map(([what, n]) => `${what}: ${n}`).join(', ')}`,
    `  answers replayed: ${report.replayed}; answers compared with a fresh one after the campaign: ${report.verified}`,
    `  mlx-guard memory: ${report.memoryMiB.first.toFixed(0)} MiB at first, at most ${report.memoryMiB.max.toFixed(0)} MiB, ${report.memoryMiB.last.toFixed(0)} MiB at the end (bound ${MEMORY_BOUND_MIB} MiB)`,
    `  after the faults: ${report.tailSeconds.settling} s for the last requests to end, ${report.tailSeconds.recovery} s to recover, ${report.tailSeconds.comparing} s comparing answers, ${report.tailSeconds.ending} s to end`,
    `  ended by ${report.ending}; invariant checks made: ${report.checks}; violations: ${report.violations.length}`,
  ];
  for (const v of report.violations.slice(0, 50)) lines.push(`  VIOLATION ${new Date(v.at).toISOString()} ${v.what}`);
  if (report.violations.length > 0) lines.push(`  replay it: npm run chaos -- --seed ${report.seed} --minutes ${+(report.durationMs / 60_000).toFixed(2)}`);
  return lines.join('\n');
}
