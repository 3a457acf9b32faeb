// `mlx-guard start` as a user runs it (`npm start` runs the built form of the same command).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isAlive, spawnProcess, until } from '../support/processes.js';
import { post, rawRequest } from '../support/raw-http.js';

const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const run = (args: string[], env: Record<string, string> = {}) => spawnProcess(process.execPath, ['--import', 'tsx', cli, ...args], { env: { MLX_GUARD_LOG_LEVEL: 'info', ...env } });

/** The URL from the structured "serving" log line. */
function serving(lines: string[]): { url: string } | undefined {
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    const record = JSON.parse(line) as { event?: string; url?: string };
    if (record.event === 'serving') return { url: record.url! };
  }
  return undefined;
}

describe('mlx-guard start', () => {
  it('--help lists every option with its variable and default', async () => {
    const help = run(['--help']);
    expect((await help.exited(15_000)).code).toBe(0);
    const text = help.stdout.join('\n');
    expect(text).toContain('mlx-guard start [options]');
    expect(text).toMatch(/--port\s+MLX_GUARD_PORT\s+port mlx-guard serves on \(default 8080\)/);
  });

  it('an invalid value stops start-up with a message naming the option, the value and what is allowed', async () => {
    const bad = run(['start', '--backend', 'ollama']);
    expect((await bad.exited(15_000)).code).toBe(2);
    expect(bad.stderr.join('\n')).toMatch(/supervisor\.backend: Invalid option: expected one of "auto"\|"mlx"\|"standin"\|"command" \(got "ollama"\)/);
  });

  it('says loudly that it runs the stand-in, serves, and on SIGTERM lets the request in flight finish, stops the model server and exits 0', async () => {
    // Slow tokens (through the config file) keep the request in flight when SIGTERM arrives.
    const dir = mkdtempSync(join(tmpdir(), 'mlx-guard-cli-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ supervisor: { serverArgs: ['--token-delay-ms', '40'], pidfile: join(dir, 'child.json') } }));
    const guard = run(['start', '--port', '0'], { MLX_GUARD_BACKEND: 'auto', MLX_GUARD_CONFIG: join(dir, 'config.json') });
    const { url } = await until('the serving line', () => serving(guard.stdout), 20_000);
    expect(guard.stdout.join('\n')).toContain('STAND-IN server: placeholder text, not a model');
    const port = Number(new URL(url).port);
    const status = JSON.parse((await rawRequest(port, 'GET /status HTTP/1.1\r\nHost: x\r\n\r\n')).body) as { modelServer: { pid: number } };
    const childPid = status.modelServer.pid;
    expect(isAlive(childPid)).toBe(true);
    const slow = rawRequest(port, post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 25, stream: true })), 15_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    process.kill(guard.pid, 'SIGTERM');
    await until('the shutdown to begin', () => (guard.stdout.some((l) => l.includes('"event":"shutdown"')) ? true : undefined));
    const answer = await slow;
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('data: [DONE]');
    expect(await guard.exited(15_000)).toEqual({ code: 0, signal: null });
    expect(isAlive(childPid)).toBe(false);
  });
});
