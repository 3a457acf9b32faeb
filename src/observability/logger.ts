import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/**
 * Structured JSON logs (one object a line, for machines and files); on a terminal, the same
 * records as short readable lines: time, level, message, and the event name.
 */
export function createLogger(options: { level?: string; name?: string; pretty?: boolean } = {}): Logger {
  const settings = { name: options.name ?? 'mlx-guard', level: options.level ?? 'info' };
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  return pretty ? pino(settings, readableLines(process.stdout)) : pino(settings);
}

function readableLines(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          const record = JSON.parse(line) as { time: number; level: number; msg?: string; event?: string };
          const time = new Date(record.time).toISOString().slice(11, 19);
          out.write(`${time} ${(LEVELS[record.level] ?? String(record.level)).padEnd(5)} ${record.msg ?? ''}${record.event ? `  [${record.event}]` : ''}\n`);
        } catch {
          out.write(`${line}\n`);
        }
      }
      done();
    },
  });
}

export const silentLogger: Logger = pino({ level: 'silent' });
