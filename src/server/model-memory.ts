import { stat } from 'node:fs/promises';
import { freemem, totalmem } from 'node:os';
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
 * What a model server takes besides its model: the Python runtime with MLX and the server. Measured
 * (docs/fleet.md): mlx_lm.server 0.32.2 on the CPU serving a 1.2 MB model holds 88 MB resident.
 */
const SERVER_BASELINE_BYTES = 100 * 1024 * 1024;

/**
 * What the served models take in memory, for the fleet's budget. Before a load: a model's weights
 * on disk (its safetensors, or a command's .gguf file) and its KV cache for its context (the
 * configured `contextLength`, else its window up to 32 768 tokens) and the server's own runtime, or
 * the configured `memoryBytes`; once a model has run, what it was last seen to hold if that is more.
 * While loaded: its model server's resident memory, read when asked (a load is judged on what the
 * others hold now, not on a reading from before they had loaded).
 */
export function modelMemory(config: Config, specs: readonly ModelSpec[], catalog: ModelCatalog): FleetMemory<ServedModel> {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  /** The most each model was seen to hold while it ran: its next load is expected to take as much. */
  const seen = new Map<string, number>();
  const fromFiles = async (spec: ModelSpec): Promise<number | undefined> => {
    const facts = spec.supervisor.model === undefined ? undefined : await catalog.facts(spec.supervisor.model);
    if (facts && facts.weightsBytes > 0) {
      const context = spec.contextLength ?? Math.min(facts.contextLength ?? UNKNOWN_WINDOW, ESTIMATED_CONTEXT_CAP);
      return SERVER_BASELINE_BYTES + facts.weightsBytes + (facts.kvBytesPerToken ?? 0) * context;
    }
    const gguf = await ggufBytes(spec.supervisor.command);
    return gguf === undefined ? spec.memoryBytes : SERVER_BASELINE_BYTES + gguf;
  };
  return {
    budgetBytes: config.models.memoryBudgetBytes ?? Math.floor(totalmem() * BUDGET_SHARE),
    waitMs: config.models.memoryWaitMs,
    async estimate(model) {
      const spec = byName.get(model.name);
      const expected = spec && (await fromFiles(spec));
      const before = seen.get(model.name);
      return expected === undefined ? before : Math.max(expected, before ?? 0);
    },
    // Linux frees an exited process's memory at its exit; a Mac can hold its wired memory a while longer.
    ...(process.platform === 'darwin' ? { freeBytes: freemem } : {}),
    async measure(model) {
      const { pid } = model.supervisor.status;
      const bytes = pid === undefined ? undefined : await residentBytes(pid);
      // Read while it still loads, a server holds less than it will: only a ready one's reading is remembered.
      if (bytes !== undefined && model.supervisor.serving) seen.set(model.name, Math.max(bytes, seen.get(model.name) ?? 0));
      return bytes;
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
