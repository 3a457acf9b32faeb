// `mlx-guard pull` and the download before a start, against a fake hub on loopback (the hub's
// routes for one repository, selected by HF_ENDPOINT): progress, the cache layout mlx_lm reads,
// resume after a cut, and a start deadline that covers loading, not downloading.
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { pullCommand } from '../../../src/cli-install.js';
import { Supervisor } from '../../../src/supervisor/index.js';
import { runCommand } from '../../../src/install/runner.js';
import { modelDownload } from '../../../src/install/model-download.js';
import { isCached, PullError, pullModel, type PullProgress } from '../../../src/install/pull.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { startFakeHub, type FakeHub, type HubFile } from '../../support/fake-hub.js';
import { privateDir, python } from '../../support/processes.js';

const repo = 'mlx-community/tiny-model';
const weights = Buffer.alloc(3 * 1024 * 1024, 7);
weights.write('safetensors header', 0);
const files: HubFile[] = [
  { path: 'config.json', content: Buffer.from('{"model_type": "llama"}') },
  { path: 'model.safetensors', content: weights, lfs: true },
  { path: 'tokenizer/tokenizer.json', content: Buffer.from('{"version": "1.0"}') },
];

const hubs: FakeHub[] = [];
afterEach(async () => {
  await Promise.all(hubs.splice(0).map((hub) => hub.close()));
});
async function hub(): Promise<FakeHub> {
  const started = await startFakeHub(repo, files);
  hubs.push(started);
  return started;
}
const cache = () => mkdtempSync(join(tmpdir(), 'mlx-guard-hub-cache-'));
const folder = (cacheDir: string) => join(cacheDir, 'models--mlx-community--tiny-model');

describe('pull', () => {
  it('downloads every file into the layout mlx_lm reads, with progress; a second pull downloads nothing', async () => {
    const fake = await hub();
    const cacheDir = cache();
    const progress: PullProgress[] = [];
    const result = await pullModel(repo, { endpoint: fake.url, cacheDir, onProgress: (p) => progress.push(p) });
    const total = files.reduce((sum, file) => sum + file.content.length, 0);
    expect(result).toEqual({ snapshot: join(folder(cacheDir), 'snapshots', fake.commit), files: 3, totalBytes: total, transferredBytes: total });
    expect(readFileSync(join(folder(cacheDir), 'refs', 'main'), 'utf8')).toBe(fake.commit);
    for (const file of files) {
      const pointer = join(result.snapshot, ...file.path.split('/'));
      const depth = file.path.split('/').length;
      expect(readlinkSync(pointer)).toBe(`${'../'.repeat(depth + 1)}blobs/${fake.blobName(file)}`);
      expect(readFileSync(pointer).equals(file.content)).toBe(true);
    }
    expect(isCached(repo, cacheDir)).toBe(true);
    // Progress rises to the total, with a rate.
    expect(progress.at(-1)).toMatchObject({ doneBytes: total, totalBytes: total });
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.doneBytes).toBeGreaterThanOrEqual(progress[i - 1]!.doneBytes);
    expect(progress.some((p) => p.file === 'model.safetensors' && p.doneBytes < total && p.rate > 0)).toBe(true);
    const again = await pullModel(repo, { endpoint: fake.url, cacheDir });
    expect(again.transferredBytes).toBe(0);
  });

  it('a transfer cut off mid-file resumes from where it stopped (an HTTP range on the .incomplete blob)', async () => {
    const fake = await hub();
    const cacheDir = cache();
    fake.cutAfter('model.safetensors', 1024 * 1024);
    await expect(pullModel(repo, { endpoint: fake.url, cacheDir })).rejects.toThrow();
    const partial = join(folder(cacheDir), 'blobs', `${fake.blobName(files[1]!)}.incomplete`);
    const kept = statSync(partial).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(1024 * 1024);
    expect(isCached(repo, cacheDir)).toBe(false);
    const resumed = await pullModel(repo, { endpoint: fake.url, cacheDir });
    expect(fake.requests).toContain(`GET /cdn/model.safetensors bytes=${kept}-`);
    // config.json came whole before the cut; the rest of the weights and the tokenizer now.
    expect(resumed.transferredBytes).toBe(weights.length - kept + files[2]!.content.length);
    expect(readFileSync(join(resumed.snapshot, 'model.safetensors')).equals(weights)).toBe(true);
    expect(existsSync(partial)).toBe(false);
  });

  it('a hub that sends more than it declared is stopped at the declared size, the partial removed; an ETag that is not one path component is refused; neither is a stack trace', async () => {
    const liar = await hub();
    liar.declare('config.json', { size: 10 });
    const dir = cache();
    await expect(pullModel(repo, { endpoint: liar.url, cacheDir: dir })).rejects.toThrow(new PullError(`the hub sent more than the 10 bytes it declared for config.json; stopped, and the partial file removed`));
    const blobs = join(folder(dir), 'blobs');
    expect(existsSync(blobs) ? readdirSync(blobs) : []).toEqual([]);

    const dots = await hub();
    dots.declare('config.json', { etag: '..' });
    const out: string[] = [];
    const context = { run: runCommand, env: { HF_ENDPOINT: dots.url, HF_HUB_CACHE: cache() }, platform: process.platform, out: (l: string) => out.push(l), err: (l: string) => out.push(l) };
    expect(await pullCommand([repo], context)).toBe(1);
    expect(out.at(-1)).toBe('mlx-guard pull: the hub gave no usable ETag or size for config.json (ETag "..", size 23)');
  });

  it('a name the hub does not know: a PullError that names it and the token', async () => {
    const fake = await hub();
    await expect(pullModel('mlx-community/nope', { endpoint: fake.url, cacheDir: cache() })).rejects.toThrow(
      new PullError('the hub has no model "mlx-community/nope" that mlx-guard may read (HTTP 404): check the name; a gated or private one needs HF_TOKEN'),
    );
    await expect(pullModel('../etc', { endpoint: fake.url, cacheDir: cache() })).rejects.toThrow(/is not a Hugging Face repo id/);
  });
});

describe('mlx-guard pull', () => {
  it('says where the model went and how much came now; a bad name is exit 1 with the hub\'s reason, no name exit 2', async () => {
    const fake = await hub();
    const lines: string[] = [];
    const context = { run: runCommand, env: { HF_ENDPOINT: fake.url, HF_HUB_CACHE: cache() }, platform: process.platform, out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    expect(await pullCommand([repo], context)).toBe(0);
    expect(lines.at(-1)).toMatch(/^mlx-community\/tiny-model: 3 files, 3\.1 MB in .+\/models--mlx-community--tiny-model\/snapshots\/[0-9a-f]{40} \(3\.1 MB downloaded now\)$/);
    expect(lines.some((line) => /^downloading mlx-community\/tiny-model: 3\.1 MB of 3\.1 MB/.test(line))).toBe(true);
    expect(await pullCommand(['mlx-community/nope'], context)).toBe(1);
    expect(lines.at(-1)).toMatch(/^mlx-guard pull: the hub has no model "mlx-community\/nope"/);
    expect(await pullCommand([], context)).toBe(2);
  });
});

describe('a start with a model that is not cached yet', () => {
  const fakeMlx = fileURLToPath(new URL('../../fixtures/fake-mlx', import.meta.url));

  it('downloads before the launch: a 1 s start deadline is not spent on a 2 s download, and the state says how far it is', async () => {
    const fake = await hub();
    fake.throttle(1.5 * 1024 * 1024); // 3 MB of weights: about 2 s
    const cacheDir = cache();
    const saved = process.env.PYTHONPATH;
    process.env.PYTHONPATH = fakeMlx;
    const supervisor = new Supervisor(
      { backend: 'mlx', model: repo, python, runDir: privateDir(), startup: { timeoutMs: 1_000, pollIntervalMs: 50 }, stop: { graceMs: 500 } },
      { prepare: modelDownload(repo, silentLogger, { HF_ENDPOINT: fake.url, HF_HUB_CACHE: cacheDir }) },
    );
    const details: string[] = [];
    supervisor.onProgress((progress) => details.push(progress.text));
    try {
      const started = performance.now();
      await supervisor.start();
      expect(performance.now() - started).toBeGreaterThan(1_500);
      expect(supervisor.state).toBe('ready');
      expect(isCached(repo, cacheDir)).toBe(true);
      expect(details.some((text) => /^mlx-community\/tiny-model: [\d.]+ [KM]B of 3\.1 MB, [\d.]+ [KM]B\/s, \d+ s left$/.test(text))).toBe(true);
      expect(supervisor.status.restarts).toEqual({});
    } finally {
      await supervisor.stop();
      if (saved === undefined) delete process.env.PYTHONPATH;
      else process.env.PYTHONPATH = saved;
    }
  });
});
