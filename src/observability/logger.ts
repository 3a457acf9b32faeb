import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Structured JSON logs; `silent` for tests and library use where the caller brings no logger. */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino({ name: options.name ?? 'mlx-guard', level: options.level ?? 'info' });
}

export const silentLogger: Logger = pino({ level: 'silent' });
