/** What one line of the model server's output means to the supervisor. */
export type LineMeaning =
  | { kind: 'zombie' }
  | { kind: 'metal_abort' }
  | { kind: 'bind_failure' }
  | { kind: 'listening'; port: number }
  | { kind: 'progress'; percent: number; text: string }
  | { kind: 'other' };

// Each pattern is anchored on text mlx_lm.server really prints
// (docs/mlx-lm.md; the zombie lines proved on the real 0.32.2, the Metal line only on a Mac), but
// not on the line's start: the download bar is drawn from another thread with no newline until it
// is done (and redrawn after a carriage return), so another line may begin in the middle of one.
// A Metal abort or a dying generation thread must be seen wherever it begins.
// Up to mlx-lm 0.31.3 the exception escapes the thread; from 0.32.0 the server catches it, logs
// this ERROR line and answers /health 503 (docs/mlx-lm.md, "When the generation thread dies").
const zombie = /Exception in thread [^(]*\(_generate\):| - ERROR - mlx_lm\.server generation thread died: /;
const metal = /libc\+\+abi: terminating|\[METAL\] Command buffer execution failed/;
const bind = /Address already in use/;
const listening = / - INFO - Starting httpd at \S+ on port (\d+)\.\.\./;
const progress = /^(.{0,80}?):\s*(\d{1,3})%\|/;

export function classifyLine(line: string): LineMeaning {
  if (zombie.test(line)) return { kind: 'zombie' };
  if (metal.test(line)) return { kind: 'metal_abort' };
  if (bind.test(line)) return { kind: 'bind_failure' };
  const listen = listening.exec(line);
  if (listen) return { kind: 'listening', port: Number(listen[1]) };
  // A bar redrawn in place: its last drawing.
  const bar = progress.exec(line.slice(line.lastIndexOf('\r') + 1));
  if (bar) return { kind: 'progress', percent: Math.min(100, Number(bar[2])), text: `${bar[1]!.trim()} ${bar[2]}%` };
  return { kind: 'other' };
}

/** Lines after a failed start that mean the model cannot be found: restarting will not help. */
const modelMissing = [/RepositoryNotFoundError|Repository Not Found/, /No safetensors found/, /does not appear to have a file named/, /\bFileNotFoundError\b/, /HFValidationError/];

export function findModelMissing(lines: readonly string[]): string | undefined {
  // The last match: a traceback ends with the exception line, which carries the actual values.
  return lines.findLast((line) => modelMissing.some((pattern) => pattern.test(line)));
}
