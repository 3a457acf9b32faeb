import { readFile, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { hubCacheDir } from '../install/paths.js';
import { isRepoId, repoFolder } from '../install/pull.js';
import { readModelFacts, type ModelFacts } from './facts.js';

/** How long facts read from disk are reused: a listing stays cheap, a model replaced on disk shows within this. */
const FACTS_FOR_MS = 30_000;

const isDirectory = (path: string) => stat(path).then((stats) => stats.isDirectory(), () => false);

/**
 * The folder mlx_lm.server loads `model` from: a local folder as given, or a hub repo's snapshot
 * in the Hugging Face cache (its `refs/main`, else its newest snapshot). Undefined when it is
 * neither (a repo not downloaded yet, a GGUF file).
 */
export async function modelDirectory(model: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (await isDirectory(model)) return resolve(model);
  if (!isRepoId(model)) return undefined;
  const folder = repoFolder(hubCacheDir(env), model);
  const commit = await readFile(join(folder, 'refs', 'main'), 'utf8').then((text) => text.trim(), () => undefined);
  if (commit && (await isDirectory(join(folder, 'snapshots', commit)))) return join(folder, 'snapshots', commit);
  const snapshots = await readdir(join(folder, 'snapshots')).catch(() => [] as string[]);
  const dated = await Promise.all(snapshots.map(async (name) => ({ name, at: (await stat(join(folder, 'snapshots', name)).catch(() => undefined))?.mtimeMs ?? 0 })));
  const newest = dated.sort((a, b) => b.at - a.at)[0];
  return newest ? join(folder, 'snapshots', newest.name) : undefined;
}

/** Models' facts, read from their folders at most every `FACTS_FOR_MS` each; undefined for a model with no folder here. */
export class ModelCatalog {
  readonly #read = new Map<string, { at: number; facts: Promise<ModelFacts | undefined> }>();

  constructor(
    readonly env: NodeJS.ProcessEnv = process.env,
    readonly now: () => number = Date.now,
  ) {}

  /** `model` as mlx_lm.server takes it (a folder or a hub repo); callers name only the served models, so the map stays that small. */
  facts(model: string): Promise<ModelFacts | undefined> {
    const now = this.now();
    let read = this.#read.get(model);
    if (!read || now - read.at > FACTS_FOR_MS) this.#read.set(model, (read = { at: now, facts: this.#readFacts(model) }));
    return read.facts;
  }

  async #readFacts(model: string): Promise<ModelFacts | undefined> {
    const dir = await modelDirectory(model, this.env);
    return dir === undefined ? undefined : readModelFacts(dir).catch(() => undefined);
  }
}
