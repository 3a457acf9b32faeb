import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The real model file the suite serves (test/fixtures/models/README.md gives its provenance). */
export const storiesModel = fileURLToPath(new URL('../fixtures/models/stories260K.gguf', import.meta.url));

/**
 * llama.cpp's `llama-server`, as scripts/build-llama-server.sh builds and caches it (LLAMA_SERVER
 * names another). A missing binary is a failure that says how to get it, never a skip.
 */
export function llamaServerBinary(): string {
  const cacheRoot = process.env.MLX_GUARD_LLAMA_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'mlx-guard');
  const binary = process.env.LLAMA_SERVER ?? join(cacheRoot, 'llama-server-node-llama-cpp-3.21.1', 'bin', 'llama-server');
  try {
    accessSync(binary, constants.X_OK);
  } catch {
    throw new Error(`no llama-server at ${binary}: run scripts/build-llama-server.sh (a few minutes, once; .ci/run does) or set LLAMA_SERVER to one`);
  }
  return binary;
}

/**
 * The command that serves the model: one thread, an explicit port on loopback, a 512-token
 * context (so a prompt can be too long for it), the name clients see.
 */
export function llamaServerCommand(contextTokens = 512): string[] {
  return [llamaServerBinary(), '-m', storiesModel, '--alias', 'stories260K', '--host', '127.0.0.1', '--port', '{port}', '-t', '1', '-c', String(contextTokens), '--no-webui'];
}
