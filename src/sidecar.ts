import type { Server } from 'node:http';
import { createServer as createListener, type AddressInfo, type Server as Listener } from 'node:net';
import { CircuitBreaker, type CircuitBreakerOptions } from './breaker/index.js';
import { modelSpecs, type Config, type ModelSpec } from './config.js';
import { Fleet } from './fleet/index.js';
import { ModelCatalog } from './catalog/index.js';
import { modelMemory } from './server/model-memory.js';
import type { ServedModel } from './server/dependencies.js';
import { canary, Supervisor } from './supervisor/index.js';
import { modelDownload } from './install/model-download.js';
import type { Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { Traffic } from './observability/traffic.js';
import { Pools } from './pool/pools.js';
import { createApp } from './server/app.js';
import { Journal } from './journal/index.js';
import { ToolParsing } from './server/tool-parsing.js';
import { FailureTriage } from './server/failure-triage.js';
import { acceptBacklog, acceptQueueCap, raiseCapCommand } from './server/accept-queue.js';
import { isUpstreamFailure } from './upstream/index.js';

export interface Sidecar {
  /** The models served, each with its own model server, breaker and journal. */
  readonly models: Fleet<ServedModel>;
  /** The first model's (the only one, unless models.served lists several). */
  readonly supervisor: Supervisor;
  readonly inferenceBreaker: CircuitBreaker;
  readonly parseBreaker: CircuitBreaker;
  readonly server: Server;
  /** The second port (`ollamaPort`), when set: its connections go to `server`, with the same routes, slots and limits. */
  readonly ollamaListener: Listener | undefined;
  /** Opens the port (503 while starting), starts the model server, resolves with the URL once it is ready. */
  start(): Promise<string>;
  /** Stops accepting, lets requests in flight finish (up to `graceMs`), stops the model server. */
  stop(graceMs?: number): Promise<void>;
  /**
   * Leaves a load balancer gracefully: /health says 503 "draining" at once, new requests are
   * served for `windowMs` (drain.windowMs) while the balancer notices, then `stop` with drain.graceMs.
   */
  shutdown(windowMs?: number, graceMs?: number): Promise<void>;
}

/**
 * A breaker's configuration as the library takes it: the options are the library's own, by name
 * and default; a backoff is on once its cap is set.
 */
function breakerOptions(name: string, { recoveryBackoff, ...options }: Config['breakers']['inference']): CircuitBreakerOptions {
  const { maxMs } = recoveryBackoff;
  return { name, ...options, ...(maxMs !== undefined ? { recoveryBackoff: { ...recoveryBackoff, maxMs } } : {}) };
}

/**
 * One served model: its model server, its inference breaker, the journal of its requests. With
 * several models (`several`), its logs, metrics and record carry its name.
 */
function servedModel(spec: ModelSpec, index: number, several: boolean, config: Config, logger: Logger, metrics: Metrics): ServedModel {
  const modelLogger = several ? logger.child({ model: spec.name }) : logger;
  const inferenceBreaker = new CircuitBreaker({
    ...breakerOptions('inference', config.breakers.inference),
    // A trial call succeeds at its first progress; one that shows none for as long as a request
    // may go without progress before it counts as stalled is hung.
    halfOpenMaxWaitMs: config.breakers.inference.halfOpenMaxWaitMs ?? spec.supervisor.liveness.stallMs,
    isFailure: isUpstreamFailure,
  });
  // One journal of requests, which the supervisor reports losses to and the request path reads verdicts from.
  const journal = new Journal(config.poison);
  const supervisor = new Supervisor(spec.supervisor, { logger: modelLogger, journal, prepare: modelDownload(spec.supervisor.model, modelLogger), ...(several ? { recordSlot: `m${index}` } : {}) });
  supervisor.watchBreaker(inferenceBreaker);
  metrics.watchBreaker(inferenceBreaker, several ? spec.name : undefined);
  metrics.watchSupervisor(supervisor, several ? spec.name : undefined);
  logTransitions(inferenceBreaker, modelLogger);
  const triage = new FailureTriage(journal, async (serving) => (await canary(serving, spec.supervisor.liveness.canaryTimeoutMs, serving.lost)).ok);
  return { name: spec.name, names: spec.names, pin: spec.pin, preload: spec.preload, ttlMs: spec.ttlMs, supervisor, inferenceBreaker, journal, triage };
}

function logTransitions(breaker: CircuitBreaker, logger: Logger): void {
  breaker.onStateChange(({ fromState, toState, reason }) =>
    logger.warn({ event: 'breaker_transition', breaker: breaker.name, fromState, toState, reason }, `${breaker.name} breaker ${fromState} → ${toState} (${reason})`),
  );
}

/** The composition root: the models (breakers, supervisors), pools and server from one configuration. */
export function createSidecar(config: Config, logger: Logger): Sidecar {
  const parseBreaker = new CircuitBreaker(breakerOptions('parse', config.breakers.parse));
  const pools = new Pools(logger, { ...config.pools, tasksPerWorker: config.maxPendingRequests });
  const metrics = new Metrics();
  const specs = modelSpecs(config);
  const several = config.models.served.length > 0;
  // With several models, a budget across their memory; the one model of a one-model configuration is not judged.
  const models = new Fleet(
    specs.map((spec, index) => servedModel(spec, index, several, config, logger, metrics)),
    { catchAll: !several, unloadGraceMs: config.drain.graceMs, logger, ...(several ? { memory: modelMemory(config, specs, new ModelCatalog()) } : {}) },
  );
  const { supervisor, inferenceBreaker } = models.primary;
  metrics.watchBreaker(parseBreaker);
  metrics.watchPools(() => pools.stats);
  logTransitions(parseBreaker, logger);
  const inflight = { count: 0 };
  const drain = { draining: false };
  const toolParsing = new ToolParsing({ pools, parseBreaker, metrics, logger, ...config.toolParsing });
  const server = createApp({ config, models, parseBreaker, pools, toolParsing, logger, metrics, traffic: new Traffic(), inflight, drain });
  server.requestTimeout = config.inference.deadlineMs + config.bodyTimeoutMs;
  const backlog = acceptBacklog(config.maxConnections);
  // A connection on the second port is handed to the one HTTP server: one set of connection slots
  // and timeouts, whichever port a client came in by.
  const ollamaListener = config.ollamaPort === undefined ? undefined : createListener((socket) => server.emit('connection', socket));

  return {
    models,
    supervisor,
    inferenceBreaker,
    parseBreaker,
    server,
    ollamaListener,
    async start() {
      // The port opens at once: until the model server is ready, clients get a clear 503 that
      // says it is starting (and how far along), not a refused connection.
      const ready = models.start();
      ready.catch(() => undefined); // awaited below, unless the port cannot be opened
      const listen = (listener: Server | Listener, port: number) =>
        new Promise<void>((resolve, reject) => {
          listener.once('error', reject);
          listener.listen({ port, host: config.host, backlog }, () => {
            listener.off('error', reject);
            resolve();
          });
        });
      await listen(server, config.port);
      const address = (listener: Server | Listener) => `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${(listener.address() as AddressInfo).port}`;
      const url = address(server);
      logger.info({ event: 'listening', url }, `mlx-guard listens on ${url}; it answers 503 until the model server is ready`);
      if (ollamaListener) {
        await listen(ollamaListener, config.ollamaPort!);
        logger.info({ event: 'listening', url: address(ollamaListener), for: 'ollama' }, `mlx-guard also listens on ${address(ollamaListener)} (ollamaPort), for clients that assume Ollama's port`);
      }
      // Read while the model server starts, not before (on a Mac it runs sysctl); it never rejects.
      void acceptQueueCap().then((cap) => {
        if (cap === undefined || cap >= backlog) return;
        logger.warn(
          { event: 'accept_queue_capped', cap, backlog },
          `the operating system holds at most ${cap} connections waiting to be accepted, not the ${backlog} asked for (twice maxConnections): a burst beyond ${cap} makes a client wait a second for its retry; raise it with \`${raiseCapCommand(backlog)}\``,
        );
      });
      await ready;
      if (several) logger.info({ event: 'serving', url, models: specs.map((spec) => spec.name) }, `mlx-guard serves ${specs.length} models on ${url}, each loaded when first asked for unless pinned or preloaded`);
      else logger.info({ event: 'serving', url, modelServer: supervisor.status.baseUrl }, `mlx-guard serves the OpenAI API on ${url}`);
      return url;
    },
    async shutdown(windowMs = config.drain.windowMs, graceMs = config.drain.graceMs) {
      drain.draining = true;
      if (windowMs > 0) {
        logger.info({ event: 'draining', windowMs }, `draining: /health answers 503, new requests are served for ${windowMs / 1000} s more`);
        await new Promise((resolve) => setTimeout(resolve, windowMs));
      }
      await this.stop(graceMs);
    },
    async stop(graceMs = 10_000) {
      ollamaListener?.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = Date.now() + graceMs;
      while (inflight.count > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      server.closeAllConnections();
      await closed;
      await models.stop();
      await pools.close();
    },
  };
}
