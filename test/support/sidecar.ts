import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterEach } from 'vitest';
import { configSchema, type ConfigInput } from '../../src/config.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createSidecar, type Sidecar } from '../../src/sidecar.js';
import { privateDir } from './processes.js';

const running: Sidecar[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop(1_000)));
});

export interface StartOptions {
  /** Run at the product's defaults (no quickened start-up, stop or backoff). */
  atDefaults?: boolean;
  /**
   * For tests that run concurrently: stop this sidecar through the test's own `onTestFinished`
   * (from its context) instead of after every test of the file.
   */
  onTestFinished?: (stop: () => Promise<void>) => void;
  /** Called once the port is open, before the model server is ready. */
  onListening?: (url: string) => void;
}

export interface TestSidecar {
  sidecar: Sidecar;
  url: string;
  client: OpenAI;
  /** The stand-in's control endpoint, to change faults at run time. */
  faults(body: Record<string, unknown>): Promise<void>;
}

/**
 * mlx-guard in this process, in front of a stand-in on ephemeral ports; stopped after the test.
 * Unless `atDefaults`, start-up polls, stops and second restarts are quickened, which changes
 * no verdict on a running server; resilience tests run at the defaults.
 */
export async function startSidecar(overrides: ConfigInput = {}, standinArgs: string[] = [], { atDefaults = false, onTestFinished, onListening }: StartOptions = {}): Promise<TestSidecar> {
  const quick = atDefaults ? {} : { stop: { graceMs: 500 }, startup: { pollIntervalMs: 50 }, restart: { initialDelayMs: 100, jitter: 0 } };
  const config = configSchema.parse({
    port: 0,
    ...overrides,
    supervisor: {
      backend: 'standin',
      model: 'org/test-model',
      runDir: privateDir('mlx-guard-e2e-'),
      serverArgs: ['--control', ...standinArgs],
      ...quick,
      ...overrides.supervisor,
    },
  });
  const sidecar = createSidecar(config, silentLogger);
  if (onTestFinished) onTestFinished(() => sidecar.stop(1_000));
  else running.push(sidecar);
  if (onListening) sidecar.server.once('listening', () => onListening(`http://127.0.0.1:${(sidecar.server.address() as AddressInfo).port}`));
  const url = await sidecar.start();
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'not-needed', maxRetries: 0, timeout: 15_000 });
  return {
    sidecar,
    url,
    client,
    async faults(body) {
      // The stand-in's own port answers only with the launch's key (mlx_host.py).
      const serving = sidecar.supervisor.serving;
      if (!serving) throw new Error('no model server is serving: its faults cannot be set');
      const headers: Record<string, string> = serving.apiKey === undefined ? {} : { authorization: `Bearer ${serving.apiKey}` };
      const response = await fetch(`${serving.baseUrl}/__standin/faults`, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(5_000) });
      if (!response.ok) throw new Error(`fault control answered ${response.status}: ${await response.text()}`);
    },
  };
}
