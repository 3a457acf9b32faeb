// Where scripts/setup-mlx.sh put the real mlx_lm.server and the MLX test models. No vitest
// import here: bench/mlx.bench.ts reads it too.
import { createHash } from 'node:crypto';
import { accessSync, constants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The pinned pair scripts/setup-mlx.sh installs when no other is asked for. */
export const pinned = { mlx: '0.32.4', mlxLm: '0.32.2' };

function cacheRoot(): string {
  return process.env.MLX_GUARD_MLX_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'mlx-guard');
}

/**
 * The real mlx_lm.server's Python and the MLX test models, as scripts/setup-mlx.sh made them in
 * the cache (MLX_LM_VERSION and MLX_VERSION pick another pair, as they do for the script). A
 * missing install is a failure that says how to get it, never a skip.
 */
export function realMlx(versions = { mlx: process.env.MLX_VERSION ?? pinned.mlx, mlxLm: process.env.MLX_LM_VERSION ?? pinned.mlxLm }): { python: string; stories: string; slow: string; versions: typeof versions } {
  const pins = process.env.MLX_EXTRA_PINS ? `-${process.env.MLX_EXTRA_PINS.replace(/[^A-Za-z0-9.]/g, '_')}` : '';
  const python = join(cacheRoot(), `mlx-venv-mlx${versions.mlx}-mlxlm${versions.mlxLm}${pins}`, 'bin', 'python');
  // The key scripts/setup-mlx.sh derives: the models depend on the script and the file it converts.
  const key = createHash('sha256')
    .update(readFileSync(join(repoRoot, 'scripts', 'make-mlx-models.py')))
    .update(readFileSync(join(repoRoot, 'test', 'fixtures', 'models', 'stories260K.gguf')))
    .digest('hex')
    .slice(0, 12);
  const models = join(cacheRoot(), `mlx-models-${key}`);
  for (const needed of [python, join(models, 'stories260K', 'config.json'), join(models, 'slow', 'config.json')]) {
    try {
      accessSync(needed, constants.R_OK);
    } catch {
      throw new Error(`no ${needed}: run scripts/setup-mlx.sh (a venv with mlx[cpu] ${versions.mlx} and mlx-lm ${versions.mlxLm}, and the test models; about a minute, once; npm run test:mlx and .ci/run do)`);
    }
  }
  return { python, stories: join(models, 'stories260K'), slow: join(models, 'slow'), versions };
}
