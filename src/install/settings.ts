import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';

/** What `mlx-guard setup` records for later starts. */
const settingsSchema = z.object({ python: z.string().min(1).optional(), mlxLmVersion: z.string().optional() }).loose();
export type Settings = z.output<typeof settingsSchema>;

/** The recorded settings; none when the file is missing, unreadable or not ours (a start must not fail on it). */
export function readSettings(path: string): Settings {
  try {
    const parsed = settingsSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}

/** Written whole and renamed into place, so a reader never sees half a file. */
export function writeSettings(path: string, settings: Settings): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(settings, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, path);
}
