// ARCHITECTURE.md in step with the code: every file it names exists, and every folder of src/ is
// described in it. A renamed or removed module fails here until the document follows.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const src = join(root, 'src');
const document = readFileSync(join(root, 'ARCHITECTURE.md'), 'utf8');
/** The project's own files (not its dependencies, build output or git's store, which dwarf it). */
const skipped = new Set(['node_modules', 'dist', '.git']);
const everything = readdirSync(root)
  .filter((entry) => !skipped.has(entry))
  .flatMap((entry) => (statSync(join(root, entry)).isDirectory() ? (readdirSync(join(root, entry), { recursive: true }) as string[]).map((f) => `${entry}/${f}`) : [entry]));
const basenames = new Set(everything.map((f) => basename(f)));

/** Files of other projects the document names (mlx-lm's own server module). */
const foreign = new Set(['mlx_lm/server.py']);
/** File names in the document: `server/app.ts`, `mlx_host.py`, `scripts/setup-mlx.sh`, … */
const named = [...new Set([...document.matchAll(/[\w./-]*[\w-]+\.(?:ts|py|sh|mjs|md)\b/g)].map((m) => m[0].replace(/^\.\//, '')))].filter((name) => !foreign.has(name));

describe('ARCHITECTURE.md', () => {
  it('names only files that exist (a path from the repository or from src/, or a name found in the tree)', () => {
    expect(named.length).toBeGreaterThan(40);
    const missing = named.filter((name) => (name.includes('/') ? !existsSync(join(root, name)) && !existsSync(join(src, name)) : !basenames.has(name)));
    expect(missing).toEqual([]);
  });

  it('describes every folder of src/', () => {
    const folders = (readdirSync(src, { recursive: true }) as string[]).map((f) => f.split('\\').join('/')).filter((f) => statSync(join(src, f)).isDirectory());
    expect(folders.length).toBeGreaterThan(8);
    const undescribed = folders.filter((folder) => !document.includes(`src/${folder}`) && !document.includes(`${folder}/`));
    expect(undescribed).toEqual([]);
  });
});
