// The status page in a real browser (Debian's Chromium, driven by playwright-core), and
// `mlx-guard status` against a running instance.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnProcess } from '../support/processes.js';
import { post, rawRequest } from '../support/raw-http.js';
import { startSidecar } from '../support/sidecar.js';

/** Debian's Chromium (what CI installs), or a Chromium or Chrome where a Mac or another Linux keeps it. */
const executablePath =
  process.env.CHROMIUM_PATH ??
  ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/Applications/Chromium.app/Contents/MacOS/Chromium', '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome'].find((path) => existsSync(path)) ??
  '/usr/bin/chromium';
const artifacts = fileURLToPath(new URL('../artifacts/', import.meta.url));
const hi = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });

let browser: Browser;
beforeAll(async () => {
  if (!existsSync(executablePath)) throw new Error(`no Chromium or Chrome found: install one (Debian: apt-get install chromium, as .ci/run does; a Mac: Google Chrome) or set CHROMIUM_PATH`);
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
}, 30_000);
afterAll(async () => {
  await browser?.close();
});

/** A page that records console errors and any request to another origin. */
async function open(url: string): Promise<{ page: Page; errors: string[]; foreign: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  const errors: string[] = [];
  const foreign: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('request', (request) => {
    if (new URL(request.url()).origin !== new URL(url).origin) foreign.push(request.url());
  });
  await page.goto(url);
  return { page, errors, foreign };
}

describe('the status page', () => {
  it('shows ready; an open breaker within 3 s; a reset by its button; a crash on the restart timeline; writes a screenshot', async () => {
    const { url, faults, sidecar } = await startSidecar();
    const { page, errors, foreign } = await open(url);
    await page.locator('#server-state[data-state="ready"]').waitFor({ timeout: 10_000 });
    expect(await page.textContent('#server-state')).toBe('ready');

    await faults({ error_rate: 1 });
    for (let i = 0; i < 5; i++) await rawRequest(Number(new URL(url).port), post('/v1/chat/completions', hi));
    expect(sidecar.inferenceBreaker.getState()).toBe('open');
    const opened = performance.now();
    await page.locator('#breaker-inference[data-state="open"]').waitFor({ timeout: 3_000 });
    expect(performance.now() - opened).toBeLessThan(3_000);
    expect(await page.textContent('#breaker-inference')).toMatch(/open: refusing requests/);

    // Loopback without a token: the page may act. Reset the breaker with its button.
    await faults({ error_rate: 0, crash_after_tokens: 1 });
    await page.click('text=Reset the inference breaker');
    await page.locator('#breaker-inference[data-state="closed"]').waitFor({ timeout: 3_000 });

    // A crash: the restart appears on the timeline, with the model server's last lines.
    await rawRequest(Number(new URL(url).port), post('/v1/chat/completions', hi), 15_000);
    await page.locator('#restart-list', { hasText: /restarted: the model server ran out of GPU memory/ }).waitFor({ timeout: 10_000 });
    await page.locator('#server-state[data-state="ready"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('#restart-list details').count()).toBeGreaterThan(0);

    mkdirSync(artifacts, { recursive: true });
    const shot = `${artifacts}status-page.png`;
    await page.screenshot({ path: shot, fullPage: true });
    // A blank page compresses to a few kilobytes; this one has text, charts and colour.
    expect(statSync(shot).size).toBeGreaterThan(30_000);
    expect(errors).toEqual([]);
    expect(foreign).toEqual([]);
    await page.close();
  }, 60_000);

  it('with several models: a row each (state, memory, use); an admin loads one with its button and unloads it with the next', async () => {
    const script = (text: string) => ['--control', '--script', JSON.stringify([{ text }])];
    const { url } = await startSidecar({ models: { served: [{ name: 'alpha', pin: true, serverArgs: script('a') }, { name: 'org/beta', serverArgs: script('b') }] } });
    const { page, errors, foreign } = await open(url);
    const beta = page.locator('#model-rows tr[data-model="org/beta"]');
    await beta.locator('td.state[data-state="unloaded"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('#model-rows tr[data-model="alpha"] td.state').textContent()).toBe('ready');
    expect(await page.isVisible('#models')).toBe(true);
    await beta.locator('button', { hasText: 'Load' }).click();
    await beta.locator('td.state[data-state="ready"]').waitFor({ timeout: 10_000 });
    expect(await beta.locator('td').nth(2).textContent()).toMatch(/GB$/);
    await beta.locator('button', { hasText: 'Unload' }).click();
    await beta.locator('td.state[data-state="unloaded"]').waitFor({ timeout: 10_000 });
    expect(errors).toEqual([]);
    expect(foreign).toEqual([]);
    await page.close();
  }, 60_000);

  it('with an admin token set: no buttons and no log lines until the token is entered in the page', async () => {
    const adminToken = 'an-admin-token-of-length';
    const { url } = await startSidecar({ adminToken });
    const { page, errors } = await open(url);
    await page.locator('#server-state[data-state="ready"]').waitFor({ timeout: 10_000 });
    expect(await page.isVisible('#token-form')).toBe(true);
    expect(await page.isVisible('text=Restart the model server')).toBe(false);
    const status = (await (await fetch(`${url}/status`)).json()) as { admin: boolean; modelServer: Record<string, unknown> };
    expect(status.admin).toBe(false);
    expect(status.modelServer).not.toHaveProperty('pid');
    await page.fill('#token', adminToken);
    await page.click('#token-form button');
    await page.waitForSelector('text=Restart the model server', { timeout: 5_000 });
    expect(await page.isVisible('#token-form')).toBe(false);
    expect(errors).toEqual([]);
    await page.close();
  }, 30_000);
  it('beyond loopback, the status, its events and the admin actions need the admin token; the page itself holds no data', async () => {
    const adminToken = 'an-admin-token-of-length';
    const { url } = await startSidecar({ host: '0.0.0.0', adminToken, apiKey: 'an-api-key-of-length' });
    const local = url.replace('0.0.0.0', '127.0.0.1');
    expect((await fetch(`${local}/status`)).status).toBe(401);
    expect((await fetch(`${local}/status/events`)).status).toBe(401);
    expect((await fetch(`${local}/admin/restart`, { method: 'POST' })).status).toBe(401);
    const withToken = await fetch(`${local}/status`, { headers: { authorization: `Bearer ${adminToken}` } });
    expect(await withToken.json()).toMatchObject({ admin: true, modelServer: { state: 'ready', pid: expect.any(Number) } });
    const page = await fetch(`${local}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
  });
});

describe('mlx-guard status', () => {
  const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
  const run = async (args: string[]) => {
    const child = spawnProcess(process.execPath, ['--import', 'tsx', cli, 'status', ...args]);
    const { code } = await child.exited(20_000);
    return { code, out: child.stdout.join('\n'), err: child.stderr.join('\n') };
  };

  it('ready: exit 0 and a summary; --json parses; the model server down: non-zero; nothing there: non-zero, saying so', async () => {
    const { url, sidecar } = await startSidecar();
    const ready = await run(['--url', url]);
    expect(ready.code).toBe(0);
    expect(ready.out).toMatch(/READY/);
    expect(ready.out).toMatch(/model server\s+ready for/);
    const json = await run(['--url', url, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).toMatchObject({ modelServer: { state: 'ready' } });
    await sidecar.supervisor.stop();
    const down = await run(['--url', url]);
    expect(down.code).toBe(1);
    expect(down.out).toMatch(/NOT READY/);
    const nothing = await run(['--url', 'http://127.0.0.1:9']);
    expect(nothing.code).toBe(1);
    expect(nothing.err).toMatch(/nothing answers at http:\/\/127\.0\.0\.1:9/);
  }, 60_000);
});
