// What the real mlx_lm.server writes while it downloads its model: huggingface_hub's "Fetching N
// files" bar, redrawn after \r with no newline until done, from the loading thread, and log lines
// from other threads, on one stderr. Served by a hub on loopback (test/support/fake-hub.ts, the routes
// huggingface_hub uses), so the download is real and slow enough to overlap the start-up lines.
// The stand-in writes the same bar the same way; both are read by what reads them in mlx-guard.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyLine } from '../../src/supervisor/log-classifier.js';
import { startFakeHub } from '../support/fake-hub.js';
import { realMlx } from '../support/mlx.js';
import { eventually, freePort, privateDir, spawnProcess } from '../support/processes.js';
import { post, rawRequest } from '../support/raw-http.js';

const mlx = realMlx();
const REPO = 'mlx-guard-test/stories260K';
/** The server's start-up line, wherever on a line it begins (the bar may stand before it). */
const STARTING = /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - INFO - Starting httpd at 127\.0\.0\.1 on port (\d+)\.\.\.$/m;

describe('the real server downloading its model', () => {
  it('draws the download bar with carriage returns while its log lines land mid-bar; mlx-guard reads every line as meant', async () => {
    const files = readdirSync(mlx.stories).map((name) => ({ path: name, content: readFileSync(join(mlx.stories, name)), lfs: name.endsWith('.safetensors') }));
    const hub = await startFakeHub(REPO, files);
    // About two seconds for the files: the bar is redrawn while other threads log.
    hub.throttle(Math.ceil(files.reduce((sum, file) => sum + file.content.length, 0) / 2));
    const port = await freePort();
    const server = spawnProcess(mlx.python, ['-m', 'mlx_lm', 'server', '--model', REPO, '--port', String(port)], { env: { HF_ENDPOINT: hub.url, HF_HUB_CACHE: privateDir('mlx-guard-hf-') } });
    await eventually(
      'the downloaded model to answer',
      async () => ((await rawRequest(port, post('/v1/completions', JSON.stringify({ prompt: 'a', max_tokens: 1 })), 30_000).catch(() => undefined))?.status === 200 ? true : undefined),
      45_000,
      200,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; its stderr: ${server.stderr.slice(-5).join(' | ')}`);
    });
    expect(hub.requests).toContain('GET /cdn/model.safetensors');
    const log = server.stderr.join('\n');
    // 0.32.2 binds first, then loads (and downloads) on its generation thread.
    expect(Number(STARTING.exec(log)?.[1])).toBe(port);
    expect(log.indexOf('Starting httpd')).toBeLessThan(log.indexOf('Fetching'));
    expect(log).toMatch(/\rFetching \d+ files: +\d+%\|/);
    // The download's own requests are logged (INFO, "HTTP Request: …") while the bar is drawn:
    // with no newline in the bar, each of those lines begins mid-bar.
    const shared = server.stderr.filter((line) => /Fetching \d+ files: .*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - INFO - /.test(line));
    console.log(`${shared.length} log line(s) began mid-bar, e.g. ${JSON.stringify(shared[0]?.slice(0, 200))}`);
    expect(shared.length).toBeGreaterThan(0);
    const meanings = server.stderr.map((line) => classifyLine(line));
    expect(meanings.filter((m) => m.kind === 'zombie' || m.kind === 'metal_abort' || m.kind === 'bind_failure')).toEqual([]);
    expect(meanings.find((m) => m.kind === 'listening')).toEqual({ kind: 'listening', port });
    expect(meanings.filter((m) => m.kind === 'progress').map((m) => (m.kind === 'progress' ? m.percent : -1))).toContain(100);
  });
});
