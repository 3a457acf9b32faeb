import { stat } from 'node:fs/promises';
import { totalmem } from 'node:os';
import type { ModelCatalog } from '../catalog/index.js';
import type { Config, ModelSpec } from '../config.js';
import type { FleetMemory } from '../fleet/index.js';
import type { ServedModel } from './dependencies.js';
import { residentBytes } from '../util/process-memory.js';

/** The budget unless configured: three quarters of physical memory, leaving the rest to the system and other programs. */
const BUDGET_SHARE = 0.75;

/** A model's KV cache is estimated for its window, but no more than this: few local uses fill a 128k window, and mlx-lm grows the cache as a context does. */
const ESTIMATED_CONTEXT_CAP = 32_768;

/** The context assumed for a model whose window its files do not give. */
const UNKNOWN_WINDOW = 8_192;

/**
 * What the served models take in memory, for the fleet's budget. Before a load: a model's weights
 * on disk (its safetensors, or a command's .gguf file) and its KV cache for its context (the
 * configured `contextLength`, else its window up to 32 768 tokens), or the configured `memoryBytes`.
 * While loaded: its model server's resident memory, read when asked (a load is judged on what the
 * others hold now, not on a reading from before they had loaded).
 */
export function modelMemory(config: Config, specs: readonly ModelSpec[], catalog: ModelCatalog): FleetMemory<ServedModel> {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  return {
    budgetBytes: config.models.memoryBudgetBytes ?? Math.floor(totalmem() * BUDGET_SHARE),
    waitMs: config.models.memoryWaitMs,
    async estimate(model) {
      const spec = byName.get(model.name);
      if (!spec) return undefined;
      const facts = spec.supervisor.model === undefined ? undefined : await catalog.facts(spec.supervisor.model);
      if (facts && facts.weightsBytes > 0) {
        const context = spec.contextLength ?? Math.min(facts.contextLength ?? UNKNOWN_WINDOW, ESTIMATED_CONTEXT_CAP);
        return facts.weightsBytes + (facts.kvBytesPerToken ?? 0) * context;
      }
      return (await ggufBytes(spec.supervisor.command)) ?? spec.memoryBytes;
    },
    async measure(model) {
      const { pid } = model.supervisor.status;
      return pid === undefined ? undefined : residentBytes(pid);
    },
  };
}

/** The size of the .gguf file a command names (llama-server's `-m model.gguf`), or undefined. */
async function ggufBytes(command: readonly string[] | undefined): Promise<number | undefined> {
  const file = command?.find((arg) => arg.toLowerCase().endsWith('.gguf'));
  if (file === undefined) return undefined;
  const stats = await stat(file).catch(() => undefined);
  return stats?.isFile() ? stats.size : undefined;
}
