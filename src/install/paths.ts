import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where mlx-guard keeps its own files on this machine (README, "On a Mac from zero"). */
export interface InstallPaths {
  /** The venv `setup` creates, and the settings it records. */
  dataDir: string;
  venv: string;
  settings: string;
  /** Where the login service writes its output. */
  logDir: string;
}

export function installPaths(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home = env.HOME ?? homedir()): InstallPaths {
  const dataDir =
    env.MLX_GUARD_HOME ??
    (platform === 'darwin' ? join(home, 'Library', 'Application Support', 'mlx-guard') : join(env.XDG_DATA_HOME ?? join(home, '.local', 'share'), 'mlx-guard'));
  const logDir = platform === 'darwin' ? join(home, 'Library', 'Logs', 'mlx-guard') : join(env.XDG_STATE_HOME ?? join(home, '.local', 'state'), 'mlx-guard', 'logs');
  return { dataDir, venv: join(dataDir, 'venv'), settings: join(dataDir, 'settings.json'), logDir };
}

/** The Hugging Face hub cache, where mlx_lm looks for models: HF_HUB_CACHE, else HF_HOME/hub. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env, home = homedir()): string {
  return env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE ?? join(env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(home, '.cache'), 'huggingface'), 'hub');
}
