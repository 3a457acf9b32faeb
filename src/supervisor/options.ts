import { z } from 'zod';
import { defaultRunDir } from './child-records.js';

const ms = (description: string) => z.number().int().nonnegative().describe(description);

/**
 * Every supervisor setting, with its default: each field's description says what it does.
 * The sidecar's config schema nests this one, so `--help` and errors name the same fields.
 */
export const supervisorOptionsSchema = z
  .object({
    backend: z.enum(['auto', 'mlx', 'standin', 'command']).default('auto').describe('which model server to run'),
    model: z.string().min(1).optional().describe('Hugging Face repo id or local path of the model (mlx backend)'),
    python: z.string().min(1).optional().describe('Python that can import mlx_lm (default: the active venv, else python3)'),
    command: z.array(z.string()).min(1).optional().describe('backend "command": the server argv, with {port} where its port goes'),
    serverArgs: z.array(z.string()).default([]).describe('extra arguments passed to the model server'),
    distributed: z
      .object({
        hosts: z.array(z.string().min(1)).min(2).optional().describe('backend "mlx" across machines: the hosts for mlx.launch (--hosts), rank 0 first (it serves HTTP, and should be this machine)'),
        hostfile: z.string().min(1).optional().describe('backend "mlx" across machines: a hostfile for mlx.launch (--hostfile) instead of hosts'),
        backend: z.string().min(1).optional().describe('the MLX distributed backend (mlx.launch --backend: ring, jaccl, mpi…; default: mlx.launch\'s)'),
        launcher: z.string().min(1).optional().describe('the mlx.launch to run (default: the one beside the Python)'),
        launcherArgs: z.array(z.string()).default([]).describe('more options for mlx.launch, e.g. ["--env", "MLX_METAL_FAST_SYNCH=1"]'),
      })
      .strict()
      .optional(),
    host: z.string().default('127.0.0.1').describe('interface the model server binds'),
    port: z.number().int().min(1).max(65_535).optional().describe('the model server port (default: a free ephemeral one)'),
    startup: z
      .object({
        timeoutMs: ms('deadline for the model server to answer a canary after launch').default(180_000),
        stallTimeoutMs: ms('restart a start that shows no output or progress for this long').default(60_000),
        pollIntervalMs: ms('pause between readiness canaries while starting').default(1_000),
      })
      .prefault({}),
    liveness: z
      .object({
        heartbeatTimeoutMs: ms('no heartbeat from the host for this long: the model server is frozen (stopped, deadlocked, swapping)').default(4_000),
        stallMs: ms('busy with no generation step, or a request with no progress (token, keepalive), for this long: stalled').default(60_000),
        probeIntervalMs: ms('pause between /health probes of a server run without the host (backend "command")').default(1_000),
        probeTimeoutMs: ms('deadline of one /health probe').default(1_500),
        probeFailures: z.number().int().positive().default(2).describe('failed /health probes (or idle canaries) in a row that mean frozen'),
        canaryTimeoutMs: ms('deadline of a canary that confirms a suspicion (stalled requests, an open breaker)').default(15_000),
        idleCanaryIntervalMs: ms('a 1-token canary this often while idle (0: never; each one wakes the GPU)').default(0),
      })
      .prefault({}),
    restart: z
      .object({
        whenOpenForMs: ms('restart when the inference breaker stays open this long and a canary fails').default(30_000),
        initialDelayMs: ms('backoff before the second relaunch in a row (the first is immediate)').default(1_000),
        maxDelayMs: ms('longest backoff delay').default(300_000),
        multiplier: z.number().min(1).default(2).describe('backoff growth per restart in a row'),
        jitter: z.number().min(0).max(1).default(0.2).describe('share of each backoff delay randomised away (0.2: between 80 % and 100 % of it), as the breaker\'s recoveryBackoff.jitter'),
        maxRestarts: z.number().int().nonnegative().default(5).describe('restarts allowed within windowMs before giving up: fatal if the server never served, else a cool-down (coolDownMs)'),
        coolDownMs: ms('a server that had served and then spent its restart budget is tried again after this long, budget renewed (0: give up for good, fatal)').default(60_000),
        windowMs: ms('the restart budget window').default(900_000),
        stableAfterMs: ms('ready this long resets the backoff and the budget').default(600_000),
      })
      .prefault({}),
    stop: z.object({ graceMs: ms('SIGTERM to SIGKILL grace when stopping the server').default(10_000) }).prefault({}),
    runDir: z.string().min(1).default(defaultRunDir()).describe('private directory (0700) where each instance records its model server, so a later start can end one left behind'),
    logLines: z.number().int().positive().default(200).describe('child log lines kept and attached to restart events'),
  })
  .strict()
  .superRefine((options, context) => {
    const distributed = options.distributed;
    if (distributed && distributed.hosts !== undefined && distributed.hostfile !== undefined) {
      context.addIssue({ code: 'custom', path: ['distributed', 'hostfile'], message: 'give hosts or a hostfile, not both' });
    } else if (distributed && distributed.hosts === undefined && distributed.hostfile === undefined) {
      const given = Object.keys(distributed).find((key) => key !== 'launcherArgs') ?? 'launcherArgs';
      context.addIssue({ code: 'custom', path: ['distributed', given], message: `${given} is set, but a distributed model server also needs hosts or a hostfile` });
    }
    if (distributed && options.backend !== 'mlx' && options.backend !== 'auto') {
      context.addIssue({ code: 'custom', path: ['distributed'], message: `only the mlx backend runs across machines (mlx.launch), not "${options.backend}"` });
    }
    if (options.backend === 'command' && !options.command?.some((arg) => arg.includes('{port}'))) {
      context.addIssue({ code: 'custom', path: ['command'], message: 'backend "command" needs a command whose arguments contain {port}' });
    }
  });

export type SupervisorOptions = z.input<typeof supervisorOptionsSchema>;
export type ResolvedSupervisorOptions = z.output<typeof supervisorOptionsSchema>;

/** Parses options; the error names each bad field and what is allowed. */
export function resolveSupervisorOptions(options: SupervisorOptions): ResolvedSupervisorOptions {
  const result = supervisorOptionsSchema.safeParse(options);
  if (!result.success) throw new RangeError(`invalid supervisor options:\n${z.prettifyError(result.error)}`);
  return result.data;
}
