import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { BREAKER_DEFAULTS } from './breaker/index.js';
import { convertOption, optionSpecs, type OptionSpec } from './config-flags.js';
import { POISON_DEFAULTS } from './journal/index.js';
import { supervisorOptionsSchema } from './supervisor/index.js';

const ms = (description: string) => z.number().int().nonnegative().describe(description);

const RECOVERY_TIMEOUT_MS = 30_000;

/**
 * A breaker's options, named as the breaker library names them (its README's table) and with its
 * defaults (`BREAKER_DEFAULTS`), but one: an opening lasts 30 s here, not the library's 60 s. The
 * supervisor restarts a server whose breaker stays open `restart.whenOpenForMs` (30 s) with a
 * failing canary, and a restart that reaches ready closes the breaker; a server whose canary
 * passes gets its probe as soon as the supervisor would have judged it, instead of clients being
 * refused for a further 30 s.
 */
const breakerSchema = (name: string, halfOpenWait: string) =>
  z
    .object({
      failureThreshold: z.number().int().positive().default(BREAKER_DEFAULTS.failureThreshold).describe(`consecutive ${name} failures that open its breaker (tripPolicy.type "consecutive")`),
      recoveryTimeout: ms(`how long the ${name} breaker stays open before a probe (the library's default is ${BREAKER_DEFAULTS.recoveryTimeout} ms)`).default(RECOVERY_TIMEOUT_MS),
      halfOpenSuccessThreshold: z.number().int().positive().default(BREAKER_DEFAULTS.halfOpenSuccessThreshold).describe(`probe successes that close the half-open ${name} breaker`),
      halfOpenMaxProbes: z.number().int().positive().default(BREAKER_DEFAULTS.halfOpenMaxProbes).describe(`probes let through at once while the ${name} breaker is half-open`),
      halfOpenMaxWaitMs: ms(`a half-open ${name} breaker whose probe shows no progress for this long reopens (default: ${halfOpenWait})`).optional(),
      slowCallDurationMs: ms(`a ${name} call at least this long is slow (counts toward tripPolicy.slowCallRateThreshold; default: off)`).optional(),
      tripPolicy: z
        .object({
          type: z.enum(['consecutive', 'count', 'time']).default('consecutive').describe(`how the closed ${name} breaker decides to open: consecutive failures, or a failure rate over the last windowSize calls (count) or windowMs (time)`),
          // The library has no default for a window's size: these are mlx-guard's.
          windowSize: z.number().int().positive().default(20).describe('calls in the window (tripPolicy.type "count")'),
          windowMs: ms('length of the window (tripPolicy.type "time")').default(60_000),
          buckets: z.number().int().positive().default(BREAKER_DEFAULTS.tripPolicy.buckets).describe('buckets the time window is kept in (tripPolicy.type "time")'),
          minimumCalls: z.number().int().positive().default(BREAKER_DEFAULTS.tripPolicy.minimumCalls).describe('fewer calls than this in the window never open the breaker'),
          failureRateThreshold: z.number().gt(0).lt(1).default(BREAKER_DEFAULTS.tripPolicy.failureRateThreshold).describe('failed / completed calls above which the breaker opens'),
          slowCallRateThreshold: z.number().gt(0).lt(1).optional().describe('slow / completed calls above which the breaker opens (needs slowCallDurationMs; default: off)'),
        })
        .strict()
        .prefault({}),
      recoveryBackoff: z
        .object({
          maxMs: ms(`grow each ${name} opening in a row from recoveryTimeout up to this (default: off, every opening lasts recoveryTimeout)`).optional(),
          multiplier: z.number().min(1).default(BREAKER_DEFAULTS.recoveryBackoff.multiplier).describe('growth of each opening in a row'),
          jitter: z.number().min(0).max(1).default(BREAKER_DEFAULTS.recoveryBackoff.jitter).describe('share of each opening randomised away'),
        })
        .strict()
        .prefault({}),
    })
    .strict()
    .prefault({});

/** With several models, one that nobody asks for is unloaded after this long: its memory goes back to the others. */
const IDLE_TTL_MS = 15 * 60_000;

/** One model of `models.served`: its names, its model server, and how long it stays loaded. */
const servedModelSchema = z
  .object({
    name: z.string().min(1).max(256).describe('the name clients ask for (a request\'s model field)'),
    aliases: z.array(z.string().min(1).max(256)).default([]).describe('other names that ask for the same model'),
    backend: z.enum(['auto', 'mlx', 'standin', 'command']).optional().describe('its model server (default: supervisor.backend)'),
    model: z.string().min(1).optional().describe('its Hugging Face repo id or local path (default: the name)'),
    command: z.array(z.string()).min(1).optional().describe('backend "command": its server argv, with {port} where its port goes'),
    serverArgs: z.array(z.string()).optional().describe('extra arguments for its model server (default: supervisor.serverArgs)'),
    python: z.string().min(1).optional().describe('the Python that runs it (default: supervisor.python)'),
    pin: z.boolean().default(false).describe('loaded at start and never unloaded; /health is ready only when every pinned model is'),
    preload: z.boolean().default(false).describe('loaded at start, unloaded like the others'),
    ttlMs: ms('unloaded after this long unasked (default: models.idleTtlMs; 0: never)').optional(),
    contextLength: z.number().int().positive().optional().describe('the context its KV cache is sized for in the memory estimate (default: the model\'s window, at most 32768 tokens)'),
    memoryBytes: z.number().int().positive().optional().describe('what it takes in memory, loaded, when its files cannot say (a repo not downloaded yet, a command backend without a .gguf file named)'),
  })
  .strict();

/** One served model's entry as its own model server's options: the shared supervisor options, with the fields it sets. */
function modelServerOptions(shared: z.output<typeof supervisorOptionsSchema>, entry: z.output<typeof servedModelSchema>): z.input<typeof supervisorOptionsSchema> {
  const { model: _model, command: _command, ...rest } = shared;
  const backend = entry.backend ?? shared.backend;
  const python = entry.python ?? shared.python;
  const command = entry.command ?? (backend === 'command' ? shared.command : undefined);
  // A model's name is its repo or path unless it says otherwise; a command names its own model.
  const model = entry.model ?? (backend === 'command' ? undefined : entry.name);
  return { ...rest, backend, serverArgs: entry.serverArgs ?? shared.serverArgs, ...(python !== undefined ? { python } : {}), ...(command ? { command } : {}), ...(model !== undefined ? { model } : {}) };
}

/** Every option of mlx-guard, with its default and a one-line description `--help` prints. */
export const configSchema = z
  .object({
    host: z.string().default('127.0.0.1').describe('interface mlx-guard serves on'),
    port: z.number().int().min(0).max(65_535).default(8080).describe('port mlx-guard serves on'),
    ollamaPort: z.number().int().min(0).max(65_535).optional().describe('a second port serving the same routes, for clients that assume Ollama\'s (11434) (default: off)'),
    adminToken: z.string().min(16).optional().describe('bearer token for admin actions; required when not bound to loopback (from a file: --admin-token-file, MLX_GUARD_ADMIN_TOKEN_FILE; a flag shows it in ps)'),
    apiKey: z.string().min(16).optional().describe('key the inference routes require (Authorization: Bearer, or x-api-key); required when not bound to loopback, unless openInference (from a file: --api-key-file, MLX_GUARD_API_KEY_FILE; a flag shows it in ps)'),
    openInference: z.boolean().default(false).describe('serve the inference routes beyond loopback without an API key: anyone who reaches the port may use the model (a trusted network, or a gateway that checks keys in front)'),
    allowedOrigins: z
      .array(z.string().min(1))
      .default([])
      .describe('origins (scheme://host:port, or "*" for all) whose web pages may call mlx-guard, besides loopback pages and its own; a page from any other origin is refused'),
    allowedHosts: z.array(z.string().min(1)).default([]).describe('Host names accepted besides localhost, 127.0.0.1 and [::1] when bound to loopback (others are refused, against DNS rebinding)'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('log level'),
    logFormat: z.enum(['auto', 'json', 'text']).default('auto').describe('log lines: JSON (one record a line, for services and files) or readable text (time, level, what happened); auto: text on a terminal, else JSON'),
    bodyLimitBytes: z.number().int().positive().default(1_048_576).describe('largest request body accepted'),
    bodyTimeoutMs: ms('deadline for reading a request body').default(10_000),
    bodyMinBytesPerSecond: z
      .number()
      .int()
      .positive()
      .default(8_192)
      .describe('slowest a request body may arrive, judged over 2 s (a slower one gets 408 and its connection back); real clients send a body at once'),
    maxPendingRequests: z.number().int().positive().default(64).describe('requests in flight or queued before new ones get 503'),
    maxConnections: z.number().int().positive().default(512).describe('client connections open at once; when all are taken, a newcomer closes the one waiting longest (still sending, or idle), never one being served; the kernel is asked to queue twice as many waiting to be accepted'),
    headersTimeoutMs: ms('deadline for a request\'s headers to arrive (a client that trickles them gets 408)').min(1_000).default(15_000),
    inference: z
      .object({
        // No separate deadline for the headers or for silences: a request waiting behind others
        // is not stalled while the server makes progress (supervisor.liveness.stallMs decides).
        deadlineMs: ms('longest a whole request may take').default(600_000),
        maxTokens: z
          .number()
          .int()
          .positive()
          .default(32_768)
          .describe('most tokens one answer may ask for (max_tokens and its synonyms); more is lowered to this, or to anthropic.contextTokens when smaller, and the answer says so in x-mlx-guard-max-tokens'),
      })
      .strict()
      .prefault({}),
    breakers: z.object({ inference: breakerSchema('inference', 'supervisor.liveness.stallMs'), parse: breakerSchema('tool-parsing', 'recoveryTimeout') }).strict().prefault({}),
    toolParsing: z
      .object({
        budgetMs: ms('parse time one answer may take for its tool calls, in all; past it the rest of the answer passes through as text').default(500),
        replyDeadlineMs: ms('longest one piece of an answer may take to parse: past it the parse thread is terminated (a runaway parse cannot be interrupted otherwise) and the rest of the answer passes through as text').default(500),
      })
      .strict()
      .prefault({}),
    anthropic: z
      .object({
        contextTokens: z.number().int().positive().optional().describe('the model\'s context window in tokens: a Messages request that would not fit is answered 400 in the words Claude Code compacts on (its prompt is counted by the model server when it may be near the limit; default: no check)'),
      })
      .strict()
      .prefault({}),
    responses: z
      .object({
        store: z.number().int().nonnegative().default(100).describe('responses kept for previous_response_id and GET/DELETE /v1/responses/{id} (those not sent with store: false), the least recently used dropped first; 0 keeps none'),
        storeBytes: z.number().int().positive().default(64 * 1024 * 1024).describe('bytes the kept responses, with the conversations they continue, take at most in all'),
        storeTtlMs: ms('how long a kept response stays').default(3_600_000),
      })
      .strict()
      .prefault({}),
    models: z
      .object({
        allow: z
          .array(z.string().min(1))
          .default([])
          .describe('model names a client may switch to: passed to the model server, which loads them in place of the current one (mlx_lm.server downloads a name it does not have). Any other name is answered by the served model, so a client that sends "gpt-4o" cannot empty the GPU (default: none, the model is pinned; with models.served, list each model there instead)'),
        served: z
          .array(servedModelSchema)
          .default([])
          .describe('the models served, each by its own supervised model server, chosen by the request\'s model name (a JSON array of {name, aliases, backend, model, command, serverArgs, python, pin, preload, ttlMs}; default: none, the one model of the supervisor options answers every name)'),
        idleTtlMs: ms('with models.served: a model not asked for this long is unloaded (its ttlMs, when set, wins; 0: never)').default(IDLE_TTL_MS),
        memoryBudgetBytes: z
          .number()
          .int()
          .positive()
          .optional()
          .describe('with models.served: memory the loaded models may take in all; a model that would not fit unloads idle ones first, least recently used (default: three quarters of physical memory; the working set Metal recommends for one process, which mlx_lm.server wires, is of that order)'),
        memoryWaitMs: ms('with models.served: how long a load waits for models busy with requests when only their memory would make room; then it is refused (503)').default(60_000),
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
        ttlMs: ms('how long a request that crashed the model server twice (or failed twice on its own) is refused at once').default(POISON_DEFAULTS.ttlMs),
        maxEntries: z.number().int().positive().default(POISON_DEFAULTS.maxEntries).describe('requests remembered as suspects or poison'),
      })
      .strict()
      .prefault({}),
    drain: z
      .object({
        windowMs: ms('after SIGTERM (or POST /admin/drain), /health answers 503 "draining" while new requests are still served this long, so a load balancer takes the node out before its connections are refused').default(5_000),
        graceMs: ms('then requests in flight get up to this long to finish before the model server is stopped').default(60_000),
      })
      .strict()
      .prefault({}),
    exitOnFatal: z.boolean().default(true).describe('once the model server is given up on (fatal), finish requests in flight and exit with a code naming why, so a service manager sees it; false keeps answering 503'),
    supervisor: supervisorOptionsSchema.prefault({}),
  })
  .strict()
  .superRefine((config, context) => {
    checkServedModels(config, context);
    const loopback = config.host === '127.0.0.1' || config.host === 'localhost' || config.host === '::1';
    if (!loopback && !config.adminToken) {
      context.addIssue({ code: 'custom', path: ['adminToken'], message: `serving on ${config.host} (not loopback) needs an admin token (--admin-token or MLX_GUARD_ADMIN_TOKEN)` });
    }
    if (!loopback && !config.apiKey && !config.openInference) {
      context.addIssue({ code: 'custom', path: ['apiKey'], message: `serving on ${config.host} (not loopback) needs an API key for the inference routes (--api-key or MLX_GUARD_API_KEY), or --open-inference true to serve them to anyone on purpose` });
    }
  });

export type Config = z.output<typeof configSchema>;

/** `models.served`: names that lead to one model each, and a valid model server for each. */
function checkServedModels(config: { models: { allow: string[]; served: Array<z.output<typeof servedModelSchema>> }; supervisor: z.output<typeof supervisorOptionsSchema> }, context: z.RefinementCtx): void {
  const { served, allow } = config.models;
  if (served.length === 0) return;
  if (allow.length > 0) context.addIssue({ code: 'custom', path: ['models', 'allow'], message: 'models.allow switches the one model server between models; with models.served, list each model there instead' });
  if (config.supervisor.port !== undefined && served.length > 1) {
    context.addIssue({ code: 'custom', path: ['supervisor', 'port'], message: 'one port cannot serve several model servers: leave supervisor.port out, each gets a free one' });
  }
  const owner = new Map<string, string>();
  served.forEach((entry, index) => {
    for (const name of [entry.name, ...entry.aliases]) {
      const taken = owner.get(name);
      if (taken !== undefined) context.addIssue({ code: 'custom', path: ['models', 'served', index, 'name'], message: `the name "${name}" already leads to the model "${taken}": each name leads to one model` });
      else owner.set(name, entry.name);
    }
    const options = supervisorOptionsSchema.safeParse(modelServerOptions(config.supervisor, entry));
    for (const issue of options.success ? [] : options.error.issues) context.addIssue({ code: 'custom', path: ['models', 'served', index, ...issue.path.map(String)], message: issue.message });
  });
}

/** One model mlx-guard serves: the names that ask for it, its model server's options, and how it stays loaded. */
export interface ModelSpec {
  /** Its name, the first of `names`. */
  name: string;
  names: string[];
  supervisor: z.output<typeof supervisorOptionsSchema>;
  pin: boolean;
  preload: boolean;
  /** Unloaded after this long unasked; 0: never. */
  ttlMs: number;
  /** The context its KV cache is sized for in the memory estimate; undefined: the model's window, capped. */
  contextLength?: number;
  /** What it takes in memory when its files cannot say. */
  memoryBytes?: number;
}

/**
 * The models served: each of `models.served`, or, without it, the one model of the supervisor
 * options, pinned (loaded at start, never unloaded) and answering every name.
 */
export function modelSpecs(config: Config): ModelSpec[] {
  const { served, idleTtlMs } = config.models;
  if (served.length === 0) {
    const name = config.supervisor.model ?? 'default_model';
    return [{ name, names: [name], supervisor: config.supervisor, pin: true, preload: true, ttlMs: 0 }];
  }
  return served.map((entry) => ({
    name: entry.name,
    names: [entry.name, ...entry.aliases],
    supervisor: supervisorOptionsSchema.parse(modelServerOptions(config.supervisor, entry)),
    pin: entry.pin,
    preload: entry.preload,
    ttlMs: entry.pin ? 0 : (entry.ttlMs ?? idleTtlMs),
    ...(entry.contextLength !== undefined ? { contextLength: entry.contextLength } : {}),
    ...(entry.memoryBytes !== undefined ? { memoryBytes: entry.memoryBytes } : {}),
  }));
}

export type ConfigInput = z.input<typeof configSchema>;

/** Options whose values are never printed back, not even when refused. */
const SECRETS = new Set(['adminToken', 'apiKey']);

/** Shorter flags and variables for the options people set most (every option has its long ones). */
const ALIASES: Record<string, { flag: string; env: string }> = {
  'supervisor.model': { flag: '--model', env: 'MLX_GUARD_MODEL' },
  'supervisor.backend': { flag: '--backend', env: 'MLX_GUARD_BACKEND' },
  'supervisor.python': { flag: '--python', env: 'MLX_GUARD_PYTHON' },
  'supervisor.port': { flag: '--server-port', env: 'MLX_GUARD_SERVER_PORT' },
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function set(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
  node[path.at(-1)!] = value;
}

/** Every option with its flag and variable, from the schema (`--help` lists them all). */
export const OPTIONS: readonly OptionSpec[] = optionSpecs(configSchema, ALIASES, SECRETS);

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
 *
 * What follows `--` is the model server's command line: the command to run (backend "command",
 * the default when no other backend is chosen), or extra arguments for mlx_lm.server or the
 * stand-in when that backend is chosen.
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Config {
  const split = argv.indexOf('--');
  const serverCommand = split === -1 ? [] : argv.slice(split + 1);
  const { values: fromFlags, configFile = env.MLX_GUARD_CONFIG } = fromCommandLine(split === -1 ? argv : argv.slice(0, split));
  const fromEnv = fromEnvironment(env);
  let fromFile: Record<string, unknown> = {};
  if (configFile) {
    try {
      fromFile = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError(`cannot read the config file ${configFile}: ${(error as Error).message}`);
    }
  }
  const input = mergeDeep(mergeDeep(fromFile, fromEnv), fromFlags);
  if (split !== -1) placeServerCommand(input, serverCommand);
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

function placeServerCommand(input: Record<string, unknown>, command: string[]): void {
  if (command.length === 0) throw new ConfigError('nothing follows "--": give the model server\'s command, e.g. -- llama-server -m model.gguf --port {port}');
  const supervisor = (input.supervisor ??= {}) as Record<string, unknown>;
  const backend = supervisor.backend ?? 'auto';
  if (backend === 'auto' || backend === 'command') {
    supervisor.backend = 'command';
    supervisor.command = command;
  } else {
    supervisor.serverArgs = [...(Array.isArray(supervisor.serverArgs) ? supervisor.serverArgs : []), ...command];
  }
}

/** The flag names of every option (without `--`), aliases included; a secret also takes `<name>-file`. */
function flagNames(): Map<string, { spec: OptionSpec; fromFile: boolean }> {
  const byName = new Map<string, { spec: OptionSpec; fromFile: boolean }>();
  for (const spec of OPTIONS) {
    for (const flag of [spec.flag, spec.alias?.flag]) {
      if (flag === undefined) continue;
      byName.set(flag.slice(2), { spec, fromFile: false });
      if (spec.secret) byName.set(`${flag.slice(2)}-file`, { spec, fromFile: true });
    }
  }
  return byName;
}

/**
 * A secret read from a file (`--api-key-file`, `MLX_GUARD_API_KEY_FILE`): a command line and a
 * process's environment may be seen by others (`ps`), a private file need not be. Its first line.
 */
function readSecretFile(path: string, source: string): string {
  try {
    return readFileSync(path, 'utf8').split(/\r?\n/)[0]!.trim();
  } catch (error) {
    throw new ConfigError(`${source}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/**
 * `argv` without the secrets given as flags, and those secrets as the variables that carry them
 * instead (`--api-key K` → `MLX_GUARD_API_KEY=K`): how a service keeps them out of its command
 * line, which any local user can read. The model server's arguments (after `--`) stay as given.
 */
export function secretsOutOfArgs(argv: readonly string[]): { args: string[]; env: Record<string, string> } {
  const byName = flagNames();
  const split = argv.indexOf('--');
  const own = split === -1 ? argv : argv.slice(0, split);
  const args: string[] = [];
  const env: Record<string, string> = {};
  for (let i = 0; i < own.length; i++) {
    const word = own[i]!;
    const [name, inline] = word.startsWith('--') ? [word.slice(2).split('=')[0]!, word.includes('=') ? word.slice(word.indexOf('=') + 1) : undefined] : ['', undefined];
    const known = byName.get(name);
    if (!known?.spec.secret || known.fromFile) {
      args.push(word);
      continue;
    }
    const value = inline ?? own[++i];
    if (value !== undefined) env[known.spec.env] = value;
  }
  return { args: split === -1 ? args : [...args, ...argv.slice(split)], env };
}

/** The secret options given as flags in `argv` (which `ps` shows), by flag. */
export function secretFlagsIn(argv: readonly string[]): string[] {
  const split = argv.indexOf('--');
  return Object.keys(secretsOutOfArgs(split === -1 ? argv : argv.slice(0, split)).env).map((env) => OPTIONS.find((spec) => spec.env === env)!.flag);
}

/** The options given as flags (`--name value` or `--name=value`), and the config file if named. */
function fromCommandLine(argv: readonly string[]): { values: Record<string, unknown>; configFile?: string } {
  const byName = flagNames();
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options: Object.fromEntries([...byName.keys(), 'config'].map((name) => [name, { type: 'string' as const }])), strict: true, allowPositionals: false });
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    const unknown = code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'([^']+)'/.exec(message)?.[1] : undefined;
    if (unknown !== undefined) throw new ConfigError(`unknown option "${unknown}"; run "mlx-guard --help" for the options`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new ConfigError(`${/'(--[^' ]+)/.exec(message)?.[1] ?? 'an option'} needs a value`);
    throw new ConfigError(message);
  }
  const values: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(parsed.values)) {
    if (name === 'config' || typeof raw !== 'string') continue;
    const { spec, fromFile } = byName.get(name)!;
    set(values, spec.path, converted(spec, fromFile ? readSecretFile(raw, `--${name}`) : raw, `--${name}`));
  }
  const configFile = parsed.values.config;
  return typeof configFile === 'string' ? { values, configFile } : { values };
}

/** The options given as `MLX_GUARD_*` variables (empty ones are unset). */
function fromEnvironment(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const spec of OPTIONS) {
    for (const name of [spec.env, spec.alias?.env]) {
      const raw = name === undefined ? undefined : env[name];
      if (raw !== undefined && raw !== '') set(values, spec.path, converted(spec, raw, name!));
      const file = name === undefined || !spec.secret ? undefined : env[`${name}_FILE`];
      if (file) set(values, spec.path, converted(spec, readSecretFile(file, `${name}_FILE`), `${name}_FILE`));
    }
  }
  return values;
}

function converted(spec: OptionSpec, raw: string, source: string): unknown {
  const result = convertOption(spec, raw);
  if ('problem' in result) throw new ConfigError(`${source} ${spec.secret ? 'is not valid' : result.problem}`);
  return result.value;
}

/** The option list for `--help`: every option's flag, variable, meaning and default. */
export function describeOptions(): string {
  const defaults = configSchema.parse({});
  const lines = OPTIONS.map((spec) => {
    let value: unknown = defaults;
    for (const key of spec.path) value = (value as Record<string, unknown> | undefined)?.[key];
    const names = [spec.flag, spec.env, ...(spec.alias ? [`(or ${spec.alias.flag}, ${spec.alias.env})`] : [])].join('  ');
    const shownDefault = value === undefined || spec.secret ? '' : ` (default ${JSON.stringify(value)})`;
    return `  ${names}\n      ${spec.description}${shownDefault}`;
  });
  return [...lines, `  --config  MLX_GUARD_CONFIG\n      a JSON file with any option, nested as above, e.g. {"supervisor": {"startup": {"timeoutMs": 300000}}}`].join('\n');
}
