// Where scripts/setup-clients.sh put the real agent clients. A missing install is a failure that
// says how to get it, never a skip.
import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The versions scripts/setup-clients.sh pins. */
export const pinnedClients = { codex: '0.171.0' };

const cacheRoot = () => process.env.MLX_GUARD_CLIENTS_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'mlx-guard');

/** The `codex` command of the pinned Codex CLI. */
export function codexCommand(): string {
  const command = join(cacheRoot(), `clients-codex${pinnedClients.codex}`, 'node_modules', '.bin', 'codex');
  try {
    accessSync(command, constants.X_OK);
  } catch {
    throw new Error(`no ${command}: run scripts/setup-clients.sh (Codex CLI ${pinnedClients.codex} from npm; npm run test:clients and .ci/run do)`);
  }
  return command;
}
