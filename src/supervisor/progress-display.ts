import type { Unsubscribe } from '../breaker/index.js';
import type { Supervisor } from './supervisor.js';

const WIDTH = 24;

/**
 * Shows the model's first download and its loading as one self-updating line on a terminal. On a pipe or
 * a file it writes nothing: the structured log already carries every progress line.
 */
export function showProgress(supervisor: Supervisor, stream: Pick<NodeJS.WriteStream, 'write' | 'isTTY'> = process.stderr): Unsubscribe {
  if (!stream.isTTY) return () => {};
  let shown = false;
  const offProgress = supervisor.onProgress(({ percent, text, phase }) => {
    const filled = Math.round((Math.min(100, Math.max(0, percent)) / 100) * WIDTH);
    stream.write(`\r\x1b[2K${phase === 'download' ? 'downloading' : 'loading'} the model: [${'#'.repeat(filled)}${' '.repeat(WIDTH - filled)}] ${text}`);
    shown = true;
  });
  const offTransition = supervisor.onTransition(({ from }) => {
    if (from === 'starting' && shown) {
      stream.write('\r\x1b[2K');
      shown = false;
    }
  });
  return () => {
    offProgress();
    offTransition();
  };
}
