import { spawn } from 'node:child_process';

/**
 * Waits for its stdin to close, then SIGKILLs process group $1. Only mlx-guard holds the other end
 * of that pipe, and the kernel closes it however mlx-guard ends (SIGKILL, a crash): a POSIX shell
 * loop, so it works wherever `/bin/sh` does, costs about a megabyte, and ignores the terminal's
 * SIGINT (a Ctrl-C is mlx-guard's to handle; it then stops the server itself).
 */
const SCRIPT = 'trap "" INT HUP; while read -r _; do :; done; kill -s KILL -- "-$1" 2>/dev/null';

/**
 * The parent-death watchdog for a model server that does not run under `mlx_host.py` (which has its
 * own, on its stdin): a `command` backend, or `mlx.launch`. `disarm` once the group was stopped, so
 * that a later loss of mlx-guard cannot reach a process group that reused the id.
 */
export function startReaper(processGroup: number): { disarm(): void } {
  const reaper = spawn('/bin/sh', ['-c', SCRIPT, 'mlx-guard-reaper', String(processGroup)], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  reaper.on('error', () => undefined);
  reaper.stdin?.on('error', () => undefined);
  // Neither the reaper nor its pipe keeps mlx-guard's event loop alive.
  reaper.unref();
  (reaper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return {
    disarm() {
      if (reaper.exitCode === null && reaper.signalCode === null) reaper.kill('SIGKILL');
    },
  };
}
