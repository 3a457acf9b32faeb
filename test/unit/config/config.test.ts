import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema, describeOptions, loadConfig, modelSpecs, OPTIONS, secretFlagsIn, secretsOutOfArgs } from '../../../src/config.js';

describe('configuration', () => {
  it('has a default for everything: loopback, port 8080, the auto backend', () => {
    const config = loadConfig([], {});
    expect(config).toMatchObject({ host: '127.0.0.1', port: 8080, logLevel: 'info', maxPendingRequests: 64, supervisor: { backend: 'auto' } });
  });

  it('merges the file, then MLX_GUARD_* variables, then flags (later wins)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mlx-guard-config-')), 'config.json');
    writeFileSync(file, JSON.stringify({ port: 7000, supervisor: { model: 'from/file', startup: { timeoutMs: 300_000 } } }));
    const config = loadConfig(['--config', file, '--model', 'from/flag'], { MLX_GUARD_PORT: '7100', MLX_GUARD_MODEL: 'from/env' });
    expect(config.port).toBe(7100);
    expect(config.supervisor.model).toBe('from/flag');
    expect(config.supervisor.startup.timeoutMs).toBe(300_000);
    expect(config.supervisor.startup.stallTimeoutMs).toBe(60_000);
  });

  it('names the option, the value and what is allowed', () => {
    expect(() => loadConfig(['--backend', 'ollama'], {})).toThrow(/supervisor\.backend: Invalid option: expected one of "auto"\|"mlx"\|"standin"\|"command" \(got "ollama"\)/);
    expect(() => loadConfig(['--port', 'eighty'], {})).toThrow('--port must be a number (got "eighty")');
    expect(() => loadConfig([], { MLX_GUARD_PORT: '99999' })).toThrow(/port: Too big: expected number to be <=65535 \(got 99999\)/);
    expect(() => loadConfig(['--verbose'], {})).toThrow('unknown option "--verbose"; run "mlx-guard --help" for the options');
    expect(() => loadConfig(['--config', '/nonexistent/mlx-guard.json'], {})).toThrow(/cannot read the config file \/nonexistent\/mlx-guard\.json/);
  });

  it('refuses to serve beyond loopback without an admin token', () => {
    expect(() => loadConfig(['--host', '0.0.0.0'], {})).toThrow(/adminToken: serving on 0\.0\.0\.0 \(not loopback\) needs an admin token/);
    expect(() => loadConfig(['--host', '0.0.0.0', '--admin-token', 'a-long-enough-secret'], {})).toThrow(/apiKey: serving on 0\.0\.0\.0 \(not loopback\) needs an API key for the inference routes/);
    expect(loadConfig(['--host', '0.0.0.0', '--admin-token', 'a-long-enough-secret', '--api-key', 'another-long-secret'], {}).host).toBe('0.0.0.0');
    expect(loadConfig(['--host', '0.0.0.0', '--admin-token', 'a-long-enough-secret', '--open-inference', 'true'], {}).openInference).toBe(true);
  });

  it('takes the model server\'s command after "--": a command to guard, or extra arguments for a chosen backend', () => {
    const guarded = loadConfig(['--port', '9000', '--', 'llama-server', '-m', 'model.gguf', '--port', '{port}'], {});
    expect(guarded.port).toBe(9000);
    expect(guarded.supervisor).toMatchObject({ backend: 'command', command: ['llama-server', '-m', 'model.gguf', '--port', '{port}'] });
    expect(loadConfig(['--backend', 'command', '--', 'srv', '--port={port}'], {}).supervisor.command).toEqual(['srv', '--port={port}']);
    const extra = loadConfig(['--backend', 'mlx', '--model', 'org/m', '--', '--prompt-cache-size', '4'], {});
    expect(extra.supervisor).toMatchObject({ backend: 'mlx', serverArgs: ['--prompt-cache-size', '4'] });
    expect(() => loadConfig(['--'], {})).toThrow(/nothing follows "--"/);
    expect(() => loadConfig(['--', 'llama-server', '--port', '8081'], {})).toThrow(/backend "command" needs a command whose arguments contain \{port\}/);
  });

  it('models.served: each model\'s own model server from the shared supervisor options and its fields; names lead to one model each; errors name the entry', () => {
    const served = [
      { name: 'mlx-community/Qwen3-4B-4bit', aliases: ['qwen'], pin: true },
      { name: 'coder', model: '/models/coder', serverArgs: ['--max-tokens', '512'], ttlMs: 60_000 },
      { name: 'gguf', backend: 'command', command: ['llama-server', '-m', 'm.gguf', '--port', '{port}'] },
    ];
    const config = loadConfig(['--models.served', JSON.stringify(served), '--backend', 'mlx', '--supervisor.server-args', '["--temp", "0.7"]', '--supervisor.startup.timeout-ms', '300000'], {});
    const [qwen, coder, gguf] = modelSpecs(config);
    expect(qwen).toMatchObject({ name: 'mlx-community/Qwen3-4B-4bit', names: ['mlx-community/Qwen3-4B-4bit', 'qwen'], pin: true, ttlMs: 0, supervisor: { backend: 'mlx', model: 'mlx-community/Qwen3-4B-4bit', serverArgs: ['--temp', '0.7'] } });
    expect(coder).toMatchObject({ pin: false, ttlMs: 60_000, supervisor: { backend: 'mlx', model: '/models/coder', serverArgs: ['--max-tokens', '512'], startup: { timeoutMs: 300_000 } } });
    expect(gguf).toMatchObject({ ttlMs: 15 * 60_000, supervisor: { backend: 'command', command: ['llama-server', '-m', 'm.gguf', '--port', '{port}'] } });
    expect(gguf!.supervisor.model).toBeUndefined();
    // Without models.served, the one model of the supervisor options, pinned.
    expect(modelSpecs(loadConfig(['--model', 'org/one'], {}))).toMatchObject([{ name: 'org/one', names: ['org/one'], pin: true, ttlMs: 0 }]);

    const refused = (value: unknown[], ...more: string[]) => () => loadConfig(['--models.served', JSON.stringify(value), ...more], {});
    expect(refused([{ name: 'a', aliases: ['b'] }, { name: 'b' }])).toThrow(/models\.served\.1\.name: the name "b" already leads to the model "a"/);
    expect(refused([{ name: 'a', backend: 'command', command: ['server'] }])).toThrow(/models\.served\.0\.command: backend "command" needs a command whose arguments contain \{port\}/);
    expect(refused([{ name: 'a' }], '--models.allow', '["b"]')).toThrow(/models\.allow: .*list each model there instead/);
    expect(refused([{ name: 'a' }, { name: 'b' }], '--server-port', '9000')).toThrow(/supervisor\.port: one port cannot serve several model servers/);
    expect(refused([{ name: 'a', frobnicate: 1 }])).toThrow(/models\.served\.0: Unrecognized key: "frobnicate"/);
    expect(() => loadConfig(['--models.served', '{"name": "a"}'], {})).toThrow(/--models\.served must be a JSON array/);
  });

  it('never prints a refused secret back', () => {
    expect(() => loadConfig(['--admin-token', 'short-secret'], {})).toThrow(/adminToken: Too small.*\(got a value of 12 characters\)/);
    expect(() => loadConfig([], { MLX_GUARD_ADMIN_TOKEN: 'short-secret' })).not.toThrow(/short-secret/);
  });

  it('--help lists every option of the schema with its flag, variable, meaning and default; each flag sets its option', () => {
    const help = describeOptions();
    expect(help).toContain('  --port  MLX_GUARD_PORT\n      port mlx-guard serves on (default 8080)');
    expect(help).toContain('  --supervisor.model  MLX_GUARD_SUPERVISOR_MODEL  (or --model, MLX_GUARD_MODEL)');
    // Every leaf the parsed defaults hold, found without the schema walk the help is built from.
    const leaves = (value: unknown, path: string[] = []): string[] =>
      value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.entries(value).flatMap(([key, child]) => leaves(child, [...path, key])) : [path.join('.')];
    const listed = OPTIONS.map((spec) => spec.path.join('.'));
    for (const leaf of leaves(configSchema.parse({}))) expect(listed, leaf).toContain(leaf);
    // Optional options without a default are listed too.
    for (const leaf of ['adminToken', 'supervisor.model', 'supervisor.port', 'breakers.inference.halfOpenMaxWaitMs', 'breakers.parse.tripPolicy.slowCallRateThreshold']) expect(listed).toContain(leaf);
    for (const spec of OPTIONS) {
      expect(help, spec.flag).toContain(`  ${spec.flag}  ${spec.env}`);
      expect(help, spec.flag).toContain(spec.description);
      expect(spec.description, spec.flag).not.toBe('');
    }
  });

  it('every option can be set by its flag and by its variable', () => {
    const sample = { string: 'x', number: 1, boolean: false, list: ['--a', '1'], json: [{ name: 'coder', aliases: [], pin: false, preload: false }] } as const;
    for (const spec of OPTIONS) {
      // Serving beyond loopback needs a token: `host` gets a loopback name.
      const value = spec.path.join('.') === 'host' ? 'localhost' : sample[spec.kind];
      const raw = typeof value === 'string' ? value : JSON.stringify(value);
      const read = (config: Record<string, unknown>) => spec.path.reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], config);
      // Values a field refuses (an enum, a range) still show the flag reached it: the error names the field.
      for (const load of [() => loadConfig([spec.flag, raw], {}), () => loadConfig([], { [spec.env]: raw })]) {
        try {
          expect(read(load() as unknown as Record<string, unknown>), spec.flag).toEqual(value);
        } catch (error) {
          expect((error as Error).message, spec.flag).toContain(spec.path.join('.'));
        }
      }
    }
  });

  it('secrets from a file (--api-key-file, MLX_GUARD_ADMIN_TOKEN_FILE: its first line); secretsOutOfArgs moves flag secrets into variables, and secretFlagsIn names them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlx-guard-secret-'));
    writeFileSync(join(dir, 'key'), 'a-key-read-from-a-file\nignored\n', { mode: 0o600 });
    writeFileSync(join(dir, 'token'), 'a-token-read-from-a-file', { mode: 0o600 });
    const config = loadConfig(['--api-key-file', join(dir, 'key')], { MLX_GUARD_ADMIN_TOKEN_FILE: join(dir, 'token') });
    expect(config.apiKey).toBe('a-key-read-from-a-file');
    expect(config.adminToken).toBe('a-token-read-from-a-file');
    expect(() => loadConfig(['--api-key-file', join(dir, 'missing')], {})).toThrow(/--api-key-file: cannot read .*missing \(ENOENT\)/);
    expect(secretsOutOfArgs(['--port', '8080', '--api-key', 'k1-long-enough-key', '--admin-token=t1-long-enough-token', '--api-key-file', '/p', '--', 'server', '--api-key', 'theirs'])).toEqual({
      args: ['--port', '8080', '--api-key-file', '/p', '--', 'server', '--api-key', 'theirs'],
      env: { MLX_GUARD_API_KEY: 'k1-long-enough-key', MLX_GUARD_ADMIN_TOKEN: 't1-long-enough-token' },
    });
    expect(secretFlagsIn(['--api-key', 'k', '--port', '1', '--', 'x', '--admin-token', 'y'])).toEqual(['--api-key']);
  });
});
