import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CircuitBreaker, Unsubscribe } from '../breaker/index.js';

/** What the metrics read of the supervisor (an interface: observability does not depend on the host). */
export interface WatchedSupervisor {
  onRestart(listener: (event: { cause: string }) => void): Unsubscribe;
  onTransition(listener: (transition: { to: string }) => void): Unsubscribe;
  readonly status: { lastTimeToReadyMs?: number };
}

const STATE_VALUE = { closed: 0, half_open: 1, open: 2 } as const;

/** The Prometheus metrics of one sidecar, in a registry of its own. */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'mlx_guard_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], registers: [this.registry] });
  readonly duration = new Histogram({
    name: 'mlx_guard_request_duration_seconds',
    help: 'HTTP request duration by route',
    labelNames: ['route'],
    buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 10, 30, 120],
    registers: [this.registry],
  });
  readonly transitions = new Counter({ name: 'mlx_guard_breaker_transitions_total', help: 'breaker state changes by breaker and new state', labelNames: ['breaker', 'to', 'model'], registers: [this.registry] });
  readonly rejections = new Counter({ name: 'mlx_guard_breaker_rejections_total', help: 'calls refused by an open breaker', labelNames: ['breaker', 'model'], registers: [this.registry] });
  readonly restarts = new Counter({ name: 'mlx_guard_model_server_restarts_total', help: 'model server restarts by cause', labelNames: ['cause', 'model'], registers: [this.registry] });
  readonly repairedToolCalls = new Counter({ name: 'mlx_guard_repaired_tool_calls_total', help: 'tool calls mlx-guard parsed out of raw markup the model server left in the content', registers: [this.registry] });
  readonly lostToolCalls = new Counter({ name: 'mlx_guard_lost_tool_calls_total', help: 'responses whose finish reason said tool_calls but carried none', registers: [this.registry] });
  readonly unparsedToolCalls = new Counter({ name: 'mlx_guard_unparsed_tool_calls_total', help: 'answers holding tool-call markup (or a call of a declared tool) that did not parse: passed through as text, and the client told so', registers: [this.registry] });
  readonly toolParsingOff = new Counter({ name: 'mlx_guard_tool_parsing_off_total', help: 'answers whose content passed through as text instead of being parsed for tool calls, by reason', labelNames: ['reason'], registers: [this.registry] });
  readonly replays = new Counter({ name: 'mlx_guard_replays_total', help: 'requests sent again after the model server was lost before their client saw any of the answer', registers: [this.registry] });
  readonly poisonFound = new Counter({ name: 'mlx_guard_poison_requests_total', help: 'requests found to crash the model server twice, or to fail twice on their own', labelNames: ['kind'], registers: [this.registry] });
  readonly poisonRefusals = new Counter({ name: 'mlx_guard_poison_refusals_total', help: 'requests refused at once because they are poison', registers: [this.registry] });
  readonly timeToReady = new Gauge({ name: 'mlx_guard_model_server_time_to_ready_seconds', help: 'how long the last start of the model server took', labelNames: ['model'], registers: [this.registry] });
  /** With several models: each model's breaker states, by breaker name. */
  readonly #modelBreakers = new Map<string, Map<string, CircuitBreaker>>();

  /**
   * A breaker's state, transitions and refusals. `model` (with several models): the model whose
   * breaker it is, a label of the same series; without it, the series carry no model label.
   */
  watchBreaker(breaker: CircuitBreaker, model?: string): void {
    const labels = model === undefined ? {} : { model };
    breaker.onStateChange(({ toState }) => this.transitions.inc({ breaker: breaker.name, to: toState, ...labels }));
    breaker.onReject(() => this.rejections.inc({ breaker: breaker.name, ...labels }));
    const name = `mlx_guard_breaker_${breaker.name}_state`;
    const help = `state of the ${breaker.name} breaker: 0 closed, 1 half-open, 2 open`;
    if (model === undefined) {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(STATE_VALUE[breaker.getState()]);
        },
      });
      return;
    }
    let byModel = this.#modelBreakers.get(breaker.name);
    if (!byModel) {
      const watched = (byModel = new Map<string, CircuitBreaker>());
      this.#modelBreakers.set(breaker.name, watched);
      new Gauge({
        name,
        help,
        labelNames: ['model'],
        registers: [this.registry],
        collect() {
          for (const [of, watchedBreaker] of watched) this.set({ model: of }, STATE_VALUE[watchedBreaker.getState()]);
        },
      });
    }
    byModel.set(model, breaker);
  }

  /** A model server's restarts and time to ready; `model` as for `watchBreaker`. */
  watchSupervisor(supervisor: WatchedSupervisor, model?: string): void {
    const labels = model === undefined ? {} : { model };
    supervisor.onRestart(({ cause }) => this.restarts.inc({ cause, ...labels }));
    supervisor.onTransition(({ to }) => {
      if (to === 'ready' && supervisor.status.lastTimeToReadyMs !== undefined) this.timeToReady.set(labels, supervisor.status.lastTimeToReadyMs / 1000);
    });
  }

  /** The client connections (server/connection-slots.ts): open now, and closed or refused for a newcomer when all slots were taken. */
  watchConnections(stats: () => { open: number; evicted: number; refused: number }): void {
    const read = [
      ['mlx_guard_connections_open', 'client connections open', 'open'],
      ['mlx_guard_connections_evicted', 'connections closed since start, still sending or idle, to make room for a new one when all slots were taken', 'evicted'],
      ['mlx_guard_connections_refused', 'new connections refused since start because none could give its place (all serving, or all just arrived)', 'refused'],
    ] as const;
    for (const [name, help, field] of read) {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(stats()[field]);
        },
      });
    }
  }

  watchPools(stats: () => Record<'inference' | 'parse', { queueSize: number; utilization: number }>): void {
    const gauges = [
      ['mlx_guard_pool_queue_size', 'calls or tasks waiting for a worker, by pool', 'queueSize'],
      ['mlx_guard_pool_utilization', 'share of the pool in use, by pool: inference, calls in flight over its room (threads times calls per worker); parse, worker time spent on tasks', 'utilization'],
    ] as const;
    for (const [name, help, field] of gauges) {
      new Gauge({
        name,
        help,
        labelNames: ['pool'],
        registers: [this.registry],
        collect() {
          const s = stats();
          for (const pool of ['inference', 'parse'] as const) this.set({ pool }, s[pool][field]);
        },
      });
    }
  }
}
