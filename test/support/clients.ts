// Where scripts/setup-clients.sh put the real agent clients. A missing install is a failure that
// says how to get it, never a skip.
import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The versions scripts/setup-clients.sh pins. */
export const pinnedClients = { codex: '0.171.0', claudeCode: '2.1.337' };

const cacheRoot = () => process.env.MLX_GUARD_CLIENTS_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'mlx-guard');

function installed(directory: string, command: string, what: string): string {
  const path = join(cacheRoot(), directory, 'node_modules', '.bin', command);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`no ${path}: run scripts/setup-clients.sh (${what} from npm; npm run test:clients and .ci/run do)`);
  }
  return path;
}

/** The `codex` command of the pinned Codex CLI. */
export const codexCommand = () => installed(`clients-codex${pinnedClients.codex}`, 'codex', `Codex CLI ${pinnedClients.codex}`);

/** The `claude` command of the pinned Claude Code. */
export const claudeCommand = () => installed(`clients-claude-code${pinnedClients.claudeCode}`, 'claude', `Claude Code ${pinnedClients.claudeCode}`);
