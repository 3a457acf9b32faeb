// The invariants the campaign checks all the time, from what mlx-guard logs (its JSON lines) and
// what each client saw. Each check that runs is counted; each one that fails is a violation.
import type { LogRecord } from './guard.js';
import type { Episode, FaultKind } from './faults.js';
import type { Outcome } from './traffic.js';

/** The supervisor's transitions, as its lifecycle makes them (src/supervisor/supervisor.ts): from → allowed next states. */
export const SUPERVISOR_TRANSITIONS: Readonly<Record<string, readonly string[]>> = {
  stopped: ['starting'],
  starting: ['ready', 'stopping', 'backoff', 'fatal', 'stopped'],
  ready: ['degraded', 'stopping', 'backoff', 'stopped'],
  degraded: ['ready', 'stopping', 'backoff', 'stopped'],
  stopping: ['backoff', 'stopped', 'fatal'],
  backoff: ['starting', 'backoff', 'stopped', 'fatal'],
  fatal: ['starting'],
};

/** The breaker's transitions and the reasons each may have (src/breaker/state.ts). */
export const BREAKER_TRANSITIONS: Readonly<Record<string, readonly string[]>> = {
  'closed>open': ['failure_threshold', 'isolated'],
  'open>half_open': ['recovery_timeout_elapsed'],
  'half_open>closed': ['probe_succeeded', 'isolation_released', 'disabled', 'reset'],
  'half_open>open': ['probe_failed', 'probe_max_wait_exceeded', 'isolated'],
  'open>closed': ['isolation_released', 'disabled', 'reset'],
};

/** Error-level events that are mlx-guard doing its job, not a fault of its own. */
const EXPECTED_ERROR_EVENTS = new Set(['restart_budget_exhausted']);

/** How far log times and client times may disagree (event-loop lag on a loaded 2-core machine). */
const MARGIN_MS = 1_500;

type Interval = [start: number, end: number];

export interface Violation {
  at: number;
  what: string;
}

/** What mlx-guard said it did, in time, and the checks made on it as it arrived. */
export class Timeline {
  readonly violations: Violation[] = [];
  checks = 0;
  /** When a serving model server was lost (ready or degraded → stopping or backoff). */
  readonly losses: number[] = [];
  readonly restartCauses: Record<string, number> = {};
  readonly #notServing: Interval[] = [];
  readonly #breakerOpen: Interval[] = [];
  #supervisor = 'stopped';
  #breakers: Record<string, string> = { inference: 'closed', 'tool-parsing': 'closed' };
  #notServingSince: number | undefined = Date.now();
  #breakerOpenSince: number | undefined;
  #readyAt: number | undefined;

  take(record: LogRecord): void {
    this.checks++;
    if (record.level >= 50 && !EXPECTED_ERROR_EVENTS.has(record.event ?? '')) {
      this.#violate(record.time, `mlx-guard logged an error (${record.event ?? 'no event'}): ${record.msg ?? ''} ${JSON.stringify(record.err ?? '').slice(0, 300)}`);
    }
    if (record.event === 'supervisor_transition') this.#supervisorTransition(record);
    if (record.event === 'breaker_transition') this.#breakerTransition(record);
    if (record.event === 'model_server_restart') {
      const cause = String(record.cause);
      this.restartCauses[cause] = (this.restartCauses[cause] ?? 0) + 1;
    }
  }

  #supervisorTransition(record: LogRecord): void {
    const from = String(record.from);
    const to = String(record.to);
    this.checks++;
    if (from !== this.#supervisor) this.#violate(record.time, `supervisor transition ${from} → ${to}, but its state was ${this.#supervisor}`);
    if (!SUPERVISOR_TRANSITIONS[from]?.includes(to)) this.#violate(record.time, `supervisor transition ${from} → ${to} (${String(record.cause)}) is not in its table`);
    if (from === 'backoff' && to === 'backoff' && record.cause !== 'restart_budget_exhausted') this.#violate(record.time, `supervisor backoff → backoff for ${String(record.cause)}`);
    if (to === 'fatal') this.#violate(record.time, `the supervisor gave up (fatal: ${String(record.cause)}) on a server that had served`);
    this.#supervisor = to;
    if (from === 'starting' && to === 'ready') this.#readyAt = record.time;
    const serving = (state: string) => state === 'ready' || state === 'degraded';
    if (serving(from) && (to === 'stopping' || to === 'backoff')) this.losses.push(record.time);
    if (serving(to) && this.#notServingSince !== undefined) {
      this.#notServing.push([this.#notServingSince, record.time]);
      this.#notServingSince = undefined;
    } else if (!serving(to) && this.#notServingSince === undefined) this.#notServingSince = record.time;
  }

  #breakerTransition(record: LogRecord): void {
    const name = String(record.breaker);
    const from = String(record.fromState);
    const to = String(record.toState);
    this.checks++;
    if (this.#breakers[name] !== undefined && from !== this.#breakers[name]) this.#violate(record.time, `${name} breaker ${from} → ${to}, but its state was ${this.#breakers[name]}`);
    if (!BREAKER_TRANSITIONS[`${from}>${to}`]?.includes(String(record.reason))) this.#violate(record.time, `${name} breaker ${from} → ${to} (${String(record.reason)}) is not in its table`);
    // Nobody resets a breaker by hand here: only the supervisor does, when a new server is ready.
    if (record.reason === 'reset' && (this.#readyAt === undefined || Math.abs(record.time - this.#readyAt) > MARGIN_MS)) this.#violate(record.time, `${name} breaker reset while no new model server became ready`);
    this.#breakers[name] = to;
    if (name !== 'inference') return;
    if (to !== 'closed' && this.#breakerOpenSince === undefined) this.#breakerOpenSince = record.time;
    if (to === 'closed' && this.#breakerOpenSince !== undefined) {
      this.#breakerOpen.push([this.#breakerOpenSince, record.time]);
      this.#breakerOpenSince = undefined;
    }
  }

  #violate(at: number, what: string): void {
    this.violations.push({ at, what });
  }

  get state(): string {
    return this.#supervisor;
  }

  lossesDuring(start: number, end: number): number {
    return this.losses.filter((at) => at >= start - MARGIN_MS && at <= end + MARGIN_MS).length;
  }

  notServingDuring(start: number, end: number): boolean {
    return overlaps(this.#notServing, this.#notServingSince, start, end);
  }

  breakerOpenDuring(start: number, end: number): boolean {
    return overlaps(this.#breakerOpen, this.#breakerOpenSince, start, end);
  }
}

function overlaps(closed: Interval[], openSince: number | undefined, start: number, end: number): boolean {
  const from = start - MARGIN_MS;
  const to = end + MARGIN_MS;
  if (openSince !== undefined && openSince <= to) return true;
  return closed.some(([s, e]) => s <= to && e >= from);
}

/** The OpenAI codes an Anthropic error may stand for (its status and type are coarser). */
function openaiCodes(outcome: Outcome): string[] {
  const code = outcome.error?.code ?? '';
  if (outcome.api === 'openai') return [code];
  switch (code) {
    case 'overloaded_error':
      return ['queue_full', 'breaker_open', 'model_server_unavailable', 'model_server_restarting'];
    case 'api_error':
      return /mlx-guard failed while handling/.test(outcome.error?.message ?? '') ? ['internal_error'] : ['upstream_error'];
    case 'timeout_error':
      return ['upstream_timeout'];
    case 'invalid_request_error':
      return /this request (was being served|failed on its own)/.test(outcome.error?.message ?? '') ? ['poison_request'] : ['invalid_request'];
    default:
      return [code];
  }
}

const STALLING: ReadonlySet<FaultKind> = new Set(['freeze', 'wedge', 'zombie', 'slow_tokens', 'long_prefill']);
const STORMS: ReadonlySet<FaultKind> = new Set(['error_storm', 'drop_storm']);
const FAILING: ReadonlySet<FaultKind> = new Set(['error_storm', 'drop_storm', 'metal_abort', 'crash', 'freeze', 'wedge', 'zombie', 'load_failure']);

export interface JudgeContext {
  timeline: Timeline;
  episodes: readonly Episode[];
  /** replay.maxPerRequest at its default. */
  maxReplays: number;
  deadlineMs: number;
  /** Digests of bodies already answered poison_request: refused at once from then on. */
  poisoned: ReadonlySet<string>;
}

/** Why the client's outcome breaks an invariant, or undefined when it is an answer or a documented error that its circumstances explain. */
export function judge(outcome: Outcome, context: JudgeContext): string | undefined {
  const { timeline, episodes } = context;
  const { start, end } = outcome;
  const during = (kinds: ReadonlySet<FaultKind>) => episodes.some((e) => e.injected && kinds.has(e.kind) && e.start <= end + MARGIN_MS && e.end >= start - MARGIN_MS);
  if (end - start > context.deadlineMs + 10_000) return `took ${end - start} ms, past the deadline (${context.deadlineMs} ms)`;
  if (outcome.clientAborted) return undefined;
  if (outcome.transport) return `no answer and no documented error: ${outcome.transport}`;
  if (outcome.expected) {
    const code = outcome.error?.code;
    return outcome.status === outcome.expected.status && code === outcome.expected.code ? undefined : `bad input answered ${outcome.status} ${code ?? ''}, expected ${outcome.expected.status} ${outcome.expected.code}`;
  }
  const attacker = outcome.behaviour === 'poison' || outcome.behaviour === 'drop';
  if (outcome.status === 200 && !outcome.error) return attacker ? `a request the server ${outcome.behaviour === 'poison' ? 'crashes on' : 'drops'} was answered 200` : undefined;
  const losses = timeline.lossesDuring(start, end);
  const allowed = (code: string): boolean => {
    switch (code) {
      case 'queue_full':
        return true;
      case 'breaker_open':
        return timeline.breakerOpenDuring(start, end);
      case 'model_server_unavailable':
        return timeline.notServingDuring(start, end);
      case 'model_server_restarting':
        // Lost while it ran, and it could not be sent again: the client had seen some of it, or
        // its replays were spent.
        return losses > 0 && (outcome.sawContent || losses > context.maxReplays || attacker);
      case 'upstream_error':
        return attacker || losses > 0 || during(FAILING);
      case 'upstream_timeout':
        return losses > 0 || during(STALLING);
      case 'poison_request':
        // An innocent request is convicted only when it was alone with the server both times it was lost, or failed twice in a storm.
        return attacker || losses >= 2 || during(STORMS) || context.poisoned.has(outcome.body);
      default:
        return false;
    }
  };
  const codes = openaiCodes(outcome);
  if (codes.some(allowed)) return undefined;
  return `${outcome.status} ${outcome.error?.code ?? ''} (${outcome.error?.inStream ? 'in the stream' : 'as the answer'}, ${outcome.sawContent ? 'after' : 'before'} any content): "${outcome.error?.message ?? ''}"; ${losses} loss(es) of the server while it ran`;
}
