import type { CircuitBreaker } from '../breaker/index.js';
import type { Config } from '../config.js';
import type { Fleet, FleetModel } from '../fleet/index.js';
import type { Journal } from '../journal/index.js';
import type { Supervisor } from '../supervisor/index.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Traffic } from '../observability/traffic.js';
import type { Pools } from '../pool/pools.js';
import type { FailureTriage } from './failure-triage.js';
import type { ToolParsing } from './tool-parsing.js';

/** What the completion routes work with, from the composition root. */
export interface CompletionDependencies {
  config: Config;
  /** The models served, each with its own model server, breaker and journal; a request's model name chooses one. */
  models: Fleet<ServedModel>;
  parseBreaker: CircuitBreaker;
  pools: Pools;
  /** Tool-call parsing for both kinds of answer, with its budget. */
  toolParsing: ToolParsing;
  logger: Logger;
  metrics: Metrics;
  /** Requests and tokens per second, for the status page. */
  traffic: Traffic;
  /** Requests admitted and not finished: the bounded queue in front of the pool. */
  inflight: { count: number };
  /** Set while the node is being taken out of a load balancer: /health says 503 "draining", requests are still served. */
  drain: { draining: boolean };
}

/** One model as the request path uses it: its model server, and what judges and remembers its requests. */
export interface ServedModel extends FleetModel {
  readonly supervisor: Supervisor;
  /** Whether its model server answers: open, its requests are refused at once. */
  readonly inferenceBreaker: CircuitBreaker;
  /** The requests to its model server: progress, each loss's verdicts, the poison list, the replay lane (shared with its supervisor). */
  readonly journal: Journal;
  /** Whether a failed call is its request's failure or the model server's, before the breaker hears of it. */
  readonly triage: FailureTriage;
}
