// The import graph of src/, read from the sources: no cycle (type-only imports included), every
// arrow pointing down the layers, a folder with an index entered only through it (or its lean
// entry), and no zod in what the worker threads load.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = fileURLToPath(new URL('../../../src/', import.meta.url));
const files = (readdirSync(src, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => f.split('\\').join('/'));

/** Each file's relative imports and re-exports, as files under src/. */
const graph = new Map<string, string[]>(
  files.map((file) => {
    const text = readFileSync(join(src, file), 'utf8');
    const targets = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+'(\.{1,2}\/[^']+)'/g)].map((m) => relative(src, resolve(dirname(join(src, file)), m[1]!)).replace(/\.js$/, '.ts').split('\\').join('/'));
    return [file, targets];
  }),
);

/** Which layer a file belongs to: its folder, or `root` for the composition files. */
const layerOf = (file: string) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : 'root');

/** What each layer may import besides itself (root may import anything, through a layer's index where it has one). */
const allowed: Record<string, string[]> = {
  breaker: [],
  util: [],
  journal: [],
  tools: [],
  upstream: [],
  openai: ['tools', 'upstream'],
  anthropic: ['openai', 'tools', 'upstream'],
  responses: ['openai', 'tools', 'upstream'],
  ollama: ['openai', 'tools', 'upstream'],
  answer: ['anthropic', 'ollama', 'openai', 'responses', 'tools', 'upstream'],
  observability: ['breaker'],
  pool: ['answer', 'observability', 'openai', 'tools', 'upstream', 'util'],
  supervisor: ['breaker', 'journal', 'observability', 'util'],
  install: ['observability', 'supervisor'],
  fleet: ['observability', 'supervisor', 'util'],
  catalog: ['install'],
  server: ['answer', 'anthropic', 'catalog', 'fleet', 'ollama', 'responses', 'breaker', 'journal', 'observability', 'openai', 'pool', 'root', 'supervisor', 'tools', 'upstream', 'util'],
};
/** Layers with an index are entered only through it; the rest are private. */
const withIndex = new Set(files.filter((f) => /^[a-z]+\/index\.ts$/.test(f)).map(layerOf));
/**
 * The lean entries of two layers, besides their index: what the worker threads load, with no
 * request schema behind it (a thread that loads zod holds about 14 MB more).
 */
const LEAN_ENTRIES = new Set(['answer/portable.ts', 'openai/answers.ts']);
const isEntry = (file: string) => file.endsWith('/index.ts') || LEAN_ENTRIES.has(file);

/** Each file's imports that load code when it runs (`import type` and `export type` load nothing). */
const runtimeGraph = new Map<string, string[]>(
  files.map((file) => {
    const text = readFileSync(join(src, file), 'utf8');
    const targets = [...text.matchAll(/(?:^|\n)\s*(?:import|export)(?!\s+type\b)\b[^;]*?\bfrom\s+'(\.{1,2}\/[^']+)'/g)].map((m) => relative(src, resolve(dirname(join(src, file)), m[1]!)).replace(/\.js$/, '.ts').split('\\').join('/'));
    return [file, targets];
  }),
);

describe('the import graph of src/', () => {
  it('reads every file and finds imports', () => {
    expect(files.length).toBeGreaterThan(60);
    expect([...graph.values()].flat().length).toBeGreaterThan(150);
    for (const targets of graph.values()) for (const target of targets) expect(files, target).toContain(target);
  });

  it('has no cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const path: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'open');
      path.push(file);
      for (const next of graph.get(file) ?? []) {
        if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next].join(' → '));
        else if (!state.has(next)) visit(next);
      }
      path.pop();
      state.set(file, 'done');
    };
    for (const file of files) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });

  it('points down the layers only, and enters a layer with an index through it', () => {
    const wrong: string[] = [];
    for (const [file, targets] of graph) {
      const from = layerOf(file);
      for (const target of targets) {
        const to = layerOf(target);
        if (to === from) continue;
        if (from !== 'root' && !allowed[from]!.includes(to)) wrong.push(`${file} → ${target}: ${from} may not import ${to}`);
        else if (withIndex.has(to) && !isEntry(target)) wrong.push(`${file} → ${target}: enter ${to} through its index`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('keeps zod out of the worker threads: nothing pool/worker.ts loads imports it', () => {
    const loaded = new Set<string>();
    const visit = (file: string) => {
      if (loaded.has(file)) return;
      loaded.add(file);
      for (const next of runtimeGraph.get(file) ?? []) visit(next);
    };
    visit('pool/worker.ts');
    expect(loaded.size).toBeGreaterThan(15);
    expect(loaded).toContain('answer/stream.ts');
    const withZod = [...loaded].filter((file) => /from\s+'zod'/.test(readFileSync(join(src, file), 'utf8')));
    expect(withZod).toEqual([]);
    // The lean entries are what keep it so: the whole layers do load it.
    expect([...runtimeGraph.get('openai/index.ts')!]).toContain('openai/request-schema.ts');
  });
});
