import type { Counter } from 'prom-client';
import type { CircuitBreaker } from '../breaker/index.js';
import type { RestartEvent } from '../supervisor/index.js';
import type { CompletionDependencies } from './dependencies.js';
import { describeModel, memoryByName } from './admin-models.js';

const RESTARTS_KEPT = 20;
const TRANSITIONS_SHOWN = 5;

/**
 * What `/status`, its event stream and the status page show. Collected here, so that what reaches
 * a viewer who is not an admin is decided in one place: no log lines (tracebacks, file paths,
 * prompts at debug level), no pid, no internal URL.
 */
export class StatusBoard {
  readonly #restarts: Array<RestartEvent & { at: string }> = [];
  #stateSince = Date.now();

  /** Of the first model (the only one, unless models.served lists several). */
  constructor(readonly deps: CompletionDependencies) {
    const { supervisor } = deps.models.primary;
    supervisor.onRestart((event) => {
      this.#restarts.push({ ...event, at: new Date().toISOString() });
      if (this.#restarts.length > RESTARTS_KEPT) this.#restarts.shift();
    });
    supervisor.onTransition(({ at }) => (this.#stateSince = at));
  }

  async snapshot(admin: boolean): Promise<Record<string, unknown>> {
    const { config, parseBreaker, metrics } = this.deps;
    const { supervisor, inferenceBreaker, journal } = this.deps.models.primary;
    const status = supervisor.status;
    const restarts = this.#restarts.map(({ logLines, inFlight, exit, ...event }) => ({ ...event, inFlight: inFlight.length, ...(admin ? { logLines, exit } : {}) }));
    return {
      admin,
      modelServer: {
        state: status.state,
        detail: status.detail,
        since: new Date(this.#stateSince).toISOString(),
        backend: status.backend,
        model: supervisor.options.model ?? null,
        lastTimeToReadyMs: status.lastTimeToReadyMs ?? null,
        restarts: status.restarts,
        fatal: status.fatal ?? null,
        coolingDownUntil: status.coolingDownUntil === undefined ? null : new Date(status.coolingDownUntil).toISOString(),
        heartbeat: supervisor.heartbeat ?? null,
        ...(admin ? { pid: status.pid, baseUrl: status.baseUrl } : {}),
      },
      draining: this.deps.drain.draining,
      lastRestart: restarts.at(-1) ?? null,
      restarts,
      breakers: { inference: this.#breaker(inferenceBreaker), parse: this.#breaker(parseBreaker) },
      traffic: { seconds: this.deps.traffic.recent(120), inflight: this.deps.inflight.count, pools: this.deps.pools.stats },
      toolParsing: { repairedCalls: await total(metrics.repairedToolCalls), lostCalls: await total(metrics.lostToolCalls), breaker: parseBreaker.getState() },
      poison: journal.poison.entries,
      ...(this.deps.models.catchAll ? {} : await this.#models(admin)),
      // Kept for scripts that read them before the page existed.
      inflight: this.deps.inflight.count,
      pools: this.deps.pools.stats,
    };
  }

  /** With several models: a row for each, and the memory budget they share (pids for an admin only). */
  async #models(admin: boolean): Promise<Record<string, unknown>> {
    const { models } = this.deps;
    const held = await memoryByName(models);
    const rows = await Promise.all(models.models.map((model) => describeModel(models, model, held?.byName)));
    return { models: rows.map(({ pid, ...row }) => (admin ? { ...row, pid } : row)), memoryBudgetBytes: held?.budgetBytes ?? null };
  }

  #breaker(breaker: CircuitBreaker): Record<string, unknown> {
    const m = breaker.getMetrics();
    return {
      state: breaker.getState(),
      failureRate: m.failureRate,
      rejectionRate: m.rejectionRate,
      successes: m.successes,
      failures: m.failures,
      rejections: m.rejections,
      transitions: m.stateChanges.slice(-TRANSITIONS_SHOWN),
      // All of it, as /status gave it before the page existed.
      metrics: m,
    };
  }
}

async function total(counter: Counter): Promise<number> {
  return (await counter.get()).values.reduce((sum, entry) => sum + entry.value, 0);
}
