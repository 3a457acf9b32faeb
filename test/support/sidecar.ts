import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterEach } from 'vitest';
import { configSchema, type ConfigInput } from '../../src/config.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createSidecar, type Sidecar } from '../../src/sidecar.js';

const running: Sidecar[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop(1_000)));
});

export interface TestSidecar {
  sidecar: Sidecar;
  url: string;
  client: OpenAI;
  /** The stand-in's control endpoint, to change faults at run time. */
  faults(body: Record<string, unknown>): Promise<void>;
}

/** mlx-guard in this process, in front of a stand-in on ephemeral ports; stopped after the test. */
export async function startSidecar(overrides: ConfigInput = {}, standinArgs: string[] = []): Promise<TestSidecar> {
  const config = configSchema.parse({
    port: 0,
    ...overrides,
    supervisor: {
      backend: 'standin',
      model: 'org/test-model',
      pidfile: join(mkdtempSync(join(tmpdir(), 'mlx-guard-e2e-')), 'child.json'),
      serverArgs: ['--control', ...standinArgs],
      stop: { graceMs: 500 },
      startup: { pollIntervalMs: 50 },
      restart: { initialDelayMs: 100, jitter: 0 },
      ...overrides.supervisor,
    },
  });
  const sidecar = createSidecar(config, silentLogger);
  running.push(sidecar);
  const url = await sidecar.start();
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'not-needed', maxRetries: 0, timeout: 15_000 });
  return {
    sidecar,
    url,
    client,
    async faults(body) {
      const response = await fetch(`${sidecar.supervisor.status.baseUrl}/__standin/faults`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(5_000) });
      if (!response.ok) throw new Error(`fault control answered ${response.status}: ${await response.text()}`);
    },
  };
}
