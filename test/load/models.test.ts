// Several models under load: 8 clients spread over 3 stand-in models for a minute, at default
// settings but for the budget, which holds two of the three: every switch unloads one while its
// clients keep asking for it. Nothing is lost (every request answered 200, none hung) and the
// budget is never passed, by the fleet's own account or by the model servers' resident memory
// (both sampled every 100 ms).
import { describe, expect, it } from 'vitest';
import { residentBytes } from '../../src/util/process-memory.js';
import { runLoad, summarise } from '../support/load.js';
import { startSidecar } from '../support/sidecar.js';

const MB = 1024 * 1024;
const MODELS = ['a', 'b', 'c'];
const served = (name: string) => ({ name, model: `local/${name}`, memoryBytes: 251 * MB, serverArgs: ['--footprint-mb', '150'] });

describe('several models under load', () => {
  it('8 clients over 3 models for a minute, a budget that holds two: nothing lost, the budget never passed', async () => {
    const budget = 600 * MB;
    const { url, sidecar } = await startSidecar({ models: { served: MODELS.map(served), memoryBudgetBytes: budget } }, [], { atDefaults: true });
    let accounted = 0;
    let resident = 0;
    let samples = 0;
    const sampler = setInterval(() => {
      void (async () => {
        const held = await sidecar.models.memoryHeld();
        accounted = Math.max(accounted, held!.models.reduce((sum, { bytes }) => sum + bytes, 0));
        const pids = sidecar.models.models.map((model) => model.supervisor.status.pid).filter((pid): pid is number => pid !== undefined);
        resident = Math.max(resident, (await Promise.all(pids.map((pid) => residentBytes(pid)))).reduce<number>((sum, bytes) => sum + (bytes ?? 0), 0));
        samples++;
      })();
    }, 100);
    const outcomes = await runLoad(url, { clients: 8, durationMs: 60_000, clientDeadlineMs: 120_000, model: (client) => MODELS[client % MODELS.length]! }).finally(() => clearInterval(sampler));
    const loads = sidecar.models.models.map((model) => model.supervisor.status);
    console.log(`${outcomes.length} requests: ${JSON.stringify(summarise(outcomes))}; most held by the fleet's account ${(accounted / MB).toFixed(0)} MB, resident ${(resident / MB).toFixed(0)} MB, of ${budget / MB} MB (${samples} samples)`);
    expect(summarise(outcomes)).toEqual({ ok: outcomes.length });
    expect(outcomes.length).toBeGreaterThan(100);
    expect(samples).toBeGreaterThan(500);
    expect(accounted).toBeLessThanOrEqual(budget);
    expect(resident).toBeLessThanOrEqual(budget);
    expect(resident).toBeGreaterThan(300 * MB);
    // Every model was served, and none was restarted for a failure: only loads and unloads.
    for (const status of loads) expect(status.restarts).toEqual({});
  }, 180_000);
});
