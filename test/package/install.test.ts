// The package as users get it: packed (which builds dist), installed globally into an empty
// prefix, and run from elsewhere, with nothing from the development tree.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { privateDir, repoRoot, spawnProcess, until } from '../support/processes.js';
import { post, rawRequest } from '../support/raw-http.js';

const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });

describe('npm install -g of the packed package', () => {
  const work = mkdtempSync(join(tmpdir(), 'mlx-guard-package-'));
  const prefix = join(work, 'prefix');
  let tarball = '';

  it('packs dist (built), native-host and the status page, and nothing of the development tree', () => {
    const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', work], repoRoot)) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = join(work, packed[0]!.filename);
    const paths = packed[0]!.files.map((file) => file.path);
    for (const needed of ['dist/cli.js', 'dist/index.js', 'dist/pool/worker.js', 'native-host/mlx_host.py', 'native-host/standin/server.py', 'public/status.html', 'package.json', 'README.md']) expect(paths).toContain(needed);
    for (const path of paths) expect(path).not.toMatch(/^(src|test|bench|scripts|\.ci)\/|__pycache__|\.gguf$/);
  }, 120_000);

  it('installs into an empty prefix; mlx-guard --help and mlx-guard start (stand-in) work from there, and stop on SIGTERM', async () => {
    npm(['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], work);
    const bin = join(prefix, 'bin', 'mlx-guard');
    expect(readdirSync(join(prefix, 'lib', 'node_modules'))).toEqual(['mlx-guard']);
    const help = execFileSync(bin, ['--help'], { cwd: work, encoding: 'utf8' });
    expect(help).toMatch(/mlx-guard setup \[--python P \| --base-python P\]/);
    const guard = spawnProcess(bin, ['start', '--port', '0', '--backend', 'standin', '--supervisor.run-dir', privateDir()], { cwd: work, env: { MLX_GUARD_LOG_LEVEL: 'info' } });
    const url = await until('the serving line', () => guard.stdout.map((line) => /"event":"serving","url":"([^"]+)"/.exec(line)?.[1]).find(Boolean), 30_000);
    const answer = await rawRequest(Number(new URL(url).port), post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 })));
    expect(answer.status).toBe(200);
    process.kill(guard.pid, 'SIGTERM');
    expect(await guard.exited(15_000)).toEqual({ code: 0, signal: null });
  }, 300_000);

  it('npx runs the same package', () => {
    const help = execFileSync('npx', ['--yes', '--prefer-offline', '--package', tarball, 'mlx-guard', '--help'], { cwd: work, encoding: 'utf8', timeout: 300_000 });
    expect(help).toMatch(/mlx-guard pull <org\/model>/);
  }, 300_000);
});
