import { parseArgs } from 'node:util';

interface Snapshot {
  modelServer: { state: string; detail: string; since: string; backend: string; model: string | null; lastTimeToReadyMs: number | null; restarts: Record<string, number>; fatal: { message: string } | null };
  breakers: Record<string, { state: string; successes: number; failures: number; rejections: number }>;
  traffic: { seconds: Array<{ ok: number; clientErrors: number; serverErrors: number; p50?: number; tokens: number }>; inflight: number };
  restarts: Array<{ at: string; cause: string; detail: string }>;
  toolParsing: { repairedCalls: number; lostCalls: number };
  /** With several models (models.served). */
  models?: Array<{ name: string; state: string; pin: boolean; memoryBytes: number | null; lastUsedAt: string | null; inFlight: number; breaker: string; restarts: Record<string, number> }>;
  memoryBudgetBytes?: number | null;
}

const gigabytes = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(bytes < 1024 ** 3 ? 2 : 1)} GB`;

/** A row per model: state, memory, last use, requests in flight, breaker and restarts. */
const modelRows = (s: Snapshot): Array<[string, string]> => [
  ...(s.memoryBudgetBytes ? [['memory', `${gigabytes((s.models ?? []).reduce((sum, m) => sum + (m.memoryBytes ?? 0), 0))} of ${gigabytes(s.memoryBudgetBytes)} held by loaded models`] as [string, string]] : []),
  ...(s.models ?? []).map((m): [string, string] => [
    `model ${m.name}`,
    [m.state === 'stopped' ? 'not loaded' : m.state, m.pin ? 'pinned' : '', m.memoryBytes !== null ? gigabytes(m.memoryBytes) : '', m.lastUsedAt ? `last asked ${since(m.lastUsedAt)} ago` : '', `${m.inFlight} in flight`, `breaker ${m.breaker}`, `${Object.values(m.restarts).reduce((a, b) => a + b, 0)} restart(s)`].filter(Boolean).join(' · '),
  ]),
];

/** Ready means answering: the model server ready and the inference breaker not refusing. */
const isReady = (s: Snapshot) => s.modelServer.state === 'ready' && s.breakers.inference?.state !== 'open';

const since = (iso: string) => {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return seconds < 60 ? `${seconds} s` : seconds < 3600 ? `${Math.floor(seconds / 60)} min ${seconds % 60} s` : `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
};

/** The status as a few lines for a terminal. */
export function describeStatus(url: string, s: Snapshot): string {
  const server = s.modelServer;
  const restarts = Object.values(server.restarts).reduce((a, b) => a + b, 0);
  const last = s.traffic.seconds.slice(-10);
  const sum = (pick: (x: Snapshot['traffic']['seconds'][number]) => number) => last.reduce((total, x) => total + pick(x), 0) / Math.max(1, last.length);
  const p50 = last.map((x) => x.p50).filter((x): x is number => x !== undefined);
  const latest = s.restarts.at(-1);
  const rows: Array<[string, string]> = [
    ['model server', [`${server.state} for ${since(server.since)}`, server.backend, server.model ?? 'default model', server.lastTimeToReadyMs !== null ? `time to ready ${(server.lastTimeToReadyMs / 1000).toFixed(1)} s` : '', `${restarts} restart(s)`].filter(Boolean).join(' · ')],
    ...(server.fatal ? [['given up', server.fatal.message] as [string, string]] : server.detail ? [['detail', server.detail] as [string, string]] : []),
    ...Object.entries(s.breakers).map(([name, b]): [string, string] => [`${name} breaker`, `${b.state} · ${b.successes} ok, ${b.failures} failed, ${b.rejections} refused`]),
    ['traffic', `${sum((x) => x.ok + x.clientErrors + x.serverErrors).toFixed(1)} req/s · p50 ${p50.length ? `${Math.round(p50.reduce((a, b) => a + b, 0) / p50.length)} ms` : '—'} · ${sum((x) => x.tokens).toFixed(1)} tokens/s · ${s.traffic.inflight} in flight`],
    ['last restart', latest ? `${new Date(latest.at).toLocaleTimeString()} ${latest.cause}: ${latest.detail}` : 'none'],
    ['tool calls', `${s.toolParsing.repairedCalls} repaired from raw markup · ${s.toolParsing.lostCalls} lost by the server`],
    ...modelRows(s),
  ];
  return [`mlx-guard at ${url}: ${isReady(s) ? 'READY' : 'NOT READY'}`, ...rows.map(([k, v]) => `  ${k.padEnd(18)} ${v}`)].join('\n');
}

/**
 * `mlx-guard status [--url URL] [--token T] [--json] [--watch]`: a running instance's status. Exit
 * 0 when it is ready, 1 when it is not or cannot be reached (a health check), 2 on a usage error.
 */
export async function statusCommand(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: { url: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean' }, watch: { type: 'boolean' } }, strict: true, allowPositionals: false }));
  } catch (error) {
    process.stderr.write(`mlx-guard status: ${(error as Error).message}. Usage: mlx-guard status [--url http://127.0.0.1:8080] [--token <admin token>] [--json] [--watch]\n`);
    return 2;
  }
  const url = (values.url ?? env.MLX_GUARD_URL ?? `http://127.0.0.1:${env.MLX_GUARD_PORT ?? '8080'}`).replace(/\/$/, '');
  const token = values.token ?? env.MLX_GUARD_ADMIN_TOKEN;
  const once = async (): Promise<number> => {
    let snapshot: Snapshot;
    try {
      const response = await fetch(`${url}/status`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(3_000) });
      if (response.status === 401) {
        process.stderr.write(`mlx-guard status: ${url} wants its admin token (--token or MLX_GUARD_ADMIN_TOKEN)\n`);
        return 1;
      }
      snapshot = (await response.json()) as Snapshot;
    } catch (error) {
      process.stderr.write(`mlx-guard status: nothing answers at ${url} (${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}); is mlx-guard running? (--url to point elsewhere)\n`);
      return 1;
    }
    process.stdout.write(values.json ? `${JSON.stringify(snapshot)}\n` : `${describeStatus(url, snapshot)}\n`);
    return isReady(snapshot) ? 0 : 1;
  };
  if (!values.watch) return once();
  for (;;) {
    if (!values.json) process.stdout.write('\x1b[2J\x1b[H');
    await once();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}
