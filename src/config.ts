import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { supervisorOptionsSchema } from './host/options.js';

const ms = (description: string) => z.number().int().nonnegative().describe(description);

const breakerSchema = (name: string) =>
  z
    .object({
      failureThreshold: z.number().int().positive().default(5).describe(`consecutive ${name} failures that open its breaker`),
      recoveryTimeoutMs: ms(`how long the ${name} breaker stays open before a probe`).default(30_000),
    })
    .strict()
    .prefault({});

/** Every option of mlx-guard, with its default and a one-line description `--help` prints. */
export const configSchema = z
  .object({
    host: z.string().default('127.0.0.1').describe('interface mlx-guard serves on'),
    port: z.number().int().min(0).max(65_535).default(8080).describe('port mlx-guard serves on'),
    adminToken: z.string().min(16).optional().describe('bearer token for admin actions; required when not bound to loopback'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('log level'),
    bodyLimitBytes: z.number().int().positive().default(1_048_576).describe('largest request body accepted'),
    bodyTimeoutMs: ms('deadline for reading a request body').default(10_000),
    maxPendingRequests: z.number().int().positive().default(64).describe('requests in flight or queued before new ones get 503'),
    maxConnections: z.number().int().positive().default(512).describe('client connections open at once; more are closed as they arrive'),
    headersTimeoutMs: ms('deadline for a request\'s headers to arrive (a client that trickles them gets 408)').min(1_000).default(15_000),
    inference: z
      .object({
        // No separate deadline for the headers or for silences: a request waiting behind others
        // is not stalled while the server makes progress (supervisor.liveness.stallMs decides).
        deadlineMs: ms('longest a whole request may take').default(600_000),
      })
      .strict()
      .prefault({}),
    breakers: z.object({ inference: breakerSchema('inference'), parse: breakerSchema('tool-parsing') }).strict().prefault({}),
    toolParsing: z
      .object({
        budgetMs: ms('parse time one answer may take for its tool calls, in all; past it (or one chunk taking as long) the rest of the answer passes through as text').default(500),
      })
      .strict()
      .prefault({}),
    pools: z
      .object({
        inferenceThreads: z.number().int().positive().default(1).describe('worker threads that carry upstream calls (I/O: one carries many streams)'),
        parseThreads: z.number().int().positive().default(2).describe('worker threads that parse tool calls (a runaway parse costs the answers on its thread their parsing)'),
      })
      .strict()
      .prefault({}),
    replay: z
      .object({
        maxPerRequest: z.number().int().nonnegative().default(2).describe('times one request whose client has seen nothing of the answer is sent again after the model server was lost (at most once per restart; 0: never)'),
      })
      .strict()
      .prefault({}),
    poison: z
      .object({
        ttlMs: ms('how long a request that crashed the model server twice (or failed twice on its own) is refused at once').default(600_000),
        maxEntries: z.number().int().positive().default(1_000).describe('requests remembered as suspects or poison'),
      })
      .strict()
      .prefault({}),
    exitOnFatal: z.boolean().default(true).describe('once the model server is given up on (fatal), finish requests in flight and exit with a code naming why, so a service manager sees it; false keeps answering 503'),
    supervisor: supervisorOptionsSchema.prefault({}),
  })
  .strict()
  .superRefine((config, context) => {
    const loopback = config.host === '127.0.0.1' || config.host === 'localhost' || config.host === '::1';
    if (!loopback && !config.adminToken) {
      context.addIssue({ code: 'custom', path: ['adminToken'], message: `serving on ${config.host} (not loopback) needs an admin token (--admin-token or MLX_GUARD_ADMIN_TOKEN)` });
    }
  });

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** Flags and variables for the options people set most; everything else goes in the config file. */
const shortcuts: Array<{ flag: string; env: string; path: string[]; kind: 'string' | 'number' }> = [
  { flag: '--host', env: 'MLX_GUARD_HOST', path: ['host'], kind: 'string' },
  { flag: '--port', env: 'MLX_GUARD_PORT', path: ['port'], kind: 'number' },
  { flag: '--admin-token', env: 'MLX_GUARD_ADMIN_TOKEN', path: ['adminToken'], kind: 'string' },
  { flag: '--log-level', env: 'MLX_GUARD_LOG_LEVEL', path: ['logLevel'], kind: 'string' },
  { flag: '--model', env: 'MLX_GUARD_MODEL', path: ['supervisor', 'model'], kind: 'string' },
  { flag: '--backend', env: 'MLX_GUARD_BACKEND', path: ['supervisor', 'backend'], kind: 'string' },
  { flag: '--python', env: 'MLX_GUARD_PYTHON', path: ['supervisor', 'python'], kind: 'string' },
  { flag: '--server-port', env: 'MLX_GUARD_SERVER_PORT', path: ['supervisor', 'port'], kind: 'number' },
];

/** Options whose values are never printed back, not even when refused. */
const SECRETS = new Set(['adminToken']);

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function set(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
  node[path.at(-1)!] = value;
}

function convert(kind: 'string' | 'number', raw: string, source: string): unknown {
  if (kind === 'string') return raw;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value)) throw new ConfigError(`${source} must be a number (got "${raw}")`);
  return value;
}

function mergeDeep(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] =
      value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object' && !Array.isArray(current)
        ? mergeDeep(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}

/**
 * The configuration from, in rising priority: the JSON config file (`--config` or MLX_GUARD_CONFIG),
 * MLX_GUARD_* variables, and flags. Every problem is a ConfigError that names the option, the value
 * and what is allowed.
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Config {
  const fromFlags: Record<string, unknown> = {};
  let configFile = env.MLX_GUARD_CONFIG;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = inline ?? argv[i + 1];
    if (flag === '--config') {
      if (value === undefined) throw new ConfigError('--config needs a path to a JSON file');
      configFile = value;
      if (inline === undefined) i++;
      continue;
    }
    const shortcut = shortcuts.find((s) => s.flag === flag);
    if (!shortcut) throw new ConfigError(`unknown option "${arg}"; run "mlx-guard --help" for the options`);
    if (value === undefined) throw new ConfigError(`${flag} needs a value`);
    set(fromFlags, shortcut.path, convert(shortcut.kind, value, flag));
    if (inline === undefined) i++;
  }
  const fromEnv: Record<string, unknown> = {};
  for (const shortcut of shortcuts) {
    const raw = env[shortcut.env];
    if (raw !== undefined && raw !== '') set(fromEnv, shortcut.path, convert(shortcut.kind, raw, shortcut.env));
  }
  let fromFile: Record<string, unknown> = {};
  if (configFile) {
    try {
      fromFile = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError(`cannot read the config file ${configFile}: ${(error as Error).message}`);
    }
  }
  const input = mergeDeep(mergeDeep(fromFile, fromEnv), fromFlags);
  const result = configSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      let given: unknown = input;
      for (const key of issue.path) given = (given as Record<PropertyKey, unknown> | undefined)?.[key as PropertyKey];
      const where = issue.path.length > 0 ? issue.path.join('.') : 'configuration';
      const shown = SECRETS.has(where) && typeof given === 'string' ? `a value of ${given.length} characters` : JSON.stringify(given);
      return `  ${where}: ${issue.message}${given === undefined ? '' : ` (got ${shown})`}`;
    });
    throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
  }
  return result.data;
}

/** The option list for `--help`: flag, variable, default and meaning. */
export function describeOptions(): string {
  const defaults = configSchema.parse({});
  const lines = shortcuts.map(({ flag, env, path }) => {
    let node: unknown = defaults;
    for (const key of path) node = (node as Record<string, unknown> | undefined)?.[key];
    let schema: z.ZodType = configSchema;
    for (const key of path) schema = unwrap(schema).shape[key] as z.ZodType;
    return `  ${flag.padEnd(16)} ${env.padEnd(24)} ${schema.description ?? ''}${node === undefined ? '' : ` (default ${JSON.stringify(node)})`}`;
  });
  return [...lines, `  ${'--config'.padEnd(16)} ${'MLX_GUARD_CONFIG'.padEnd(24)} a JSON file with any option (see README), e.g. {"supervisor": {"startup": {"timeoutMs": 300000}}}`].join('\n');
}

function unwrap(schema: z.ZodType): z.ZodObject {
  let current = schema as unknown as { unwrap?: () => z.ZodType; innerType?: () => z.ZodType; shape?: unknown; def?: { innerType?: z.ZodType } };
  while (!current.shape) {
    const inner = current.def?.innerType ?? current.unwrap?.();
    if (!inner) break;
    current = inner as unknown as typeof current;
  }
  return current as unknown as z.ZodObject;
}
