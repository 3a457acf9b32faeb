// deploy/nginx-mlx-guard.conf as shipped (only its addresses changed to this run's ports), in a
// real nginx in front of two mlx-guard nodes: a node that refuses with 503 (its breaker held open)
// has each request sent to the other, so clients see no error; when both refuse, a 503 with
// Retry-After, not nginx's 502.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, freePort, privateDir, spawnProcess, type Spawned } from '../support/processes.js';
import { startSidecar } from '../support/sidecar.js';

const shipped = fileURLToPath(new URL('../../deploy/nginx-mlx-guard.conf', import.meta.url));
const running: Spawned[] = [];
afterEach(async () => {
  for (const nginx of running.splice(0)) {
    process.kill(nginx.pid, 'SIGQUIT');
    await nginx.exited(10_000);
  }
});

function nginxBinary(): string {
  if (spawnSync('nginx', ['-v']).status !== 0) throw new Error('nginx is not installed: apt-get install nginx-light (.ci/run does)');
  return 'nginx';
}

async function startNginx(nodes: [number, number]): Promise<string> {
  const dir = privateDir('mlx-guard-nginx-');
  mkdirSync(join(dir, 'temp'));
  const port = await freePort();
  const site = readFileSync(shipped, 'utf8').replace('127.0.0.1:8081', `127.0.0.1:${nodes[0]}`).replace('127.0.0.1:8082', `127.0.0.1:${nodes[1]}`).replace('listen 127.0.0.1:8000', `listen 127.0.0.1:${port}`);
  writeFileSync(join(dir, 'site.conf'), site);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `${kind}_temp_path ${join(dir, 'temp', kind)};`).join('\n  ');
  writeFileSync(join(dir, 'nginx.conf'), `daemon off;\nworker_processes 2;\npid ${join(dir, 'nginx.pid')};\nerror_log ${join(dir, 'error.log')} warn;\nevents {}\nhttp {\n  access_log off;\n  ${temp}\n  include ${join(dir, 'site.conf')};\n}\n`);
  const checked = spawnSync(nginxBinary(), ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' });
  expect(checked.status, checked.stderr).toBe(0);
  const nginx = spawnProcess('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')]);
  running.push(nginx);
  const url = `http://127.0.0.1:${port}`;
  await eventually('nginx to listen', () => fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) }).then(() => true, () => undefined), 10_000);
  return url;
}

const chat = (url: string) =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 }), signal: AbortSignal.timeout(15_000) });

describe('nginx (deploy/nginx-mlx-guard.conf) in front of two mlx-guard nodes', () => {
  it('a node whose breaker is open: its 503s go to the other node and every client gets its answer; both refusing: 503 with Retry-After', async () => {
    const a = await startSidecar();
    const b = await startSidecar();
    const url = await startNginx([Number(new URL(a.url).port), Number(new URL(b.url).port)]);
    const holdA = a.sidecar.inferenceBreaker.isolate();
    const answers = await Promise.all(Array.from({ length: 40 }, () => chat(url).then((r) => r.status)));
    expect(answers.filter((status) => status !== 200)).toEqual([]);
    expect(b.sidecar.inferenceBreaker.getMetrics().successes).toBe(40);
    const holdB = b.sidecar.inferenceBreaker.isolate();
    const refused = await chat(url);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await refused.json()) as unknown).toMatchObject({ error: { type: 'service_unavailable' } });
    holdA.dispose();
    holdB.dispose();
  });
});
