// Switching models: the time from a request for a model that is not loaded to its first token,
// against the model server's own time to ready (spawn to a passing canary, as the supervisor
// measures it), through mlx-guard with stand-in models (load time LOAD_TIME_MS). Two cases, ROUNDS
// each: a load with room to spare, and a switch under a memory budget that holds one of the two
// models, where the other is unloaded first. Goal: the model server's time to ready + < 0.3 s.
//
//   npm run bench:models            # ~1 min
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { configSchema } from '../src/config.js';
import { silentLogger } from '../src/observability/logger.js';
import { createSidecar, type Sidecar } from '../src/sidecar.js';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const LOAD_TIME_MS = Number(process.env.LOAD_TIME_MS ?? 1_000);
const GOAL_MS = 300;

const standin = (name: string) => ({ name, backend: 'standin', model: `local/${name}`, memoryBytes: 300 * 1024 ** 2, serverArgs: ['--load-time-ms', String(LOAD_TIME_MS)] });

async function startGuard(memoryBudgetBytes: number): Promise<{ sidecar: Sidecar; url: string }> {
  const config = configSchema.parse({ port: 0, supervisor: { backend: 'standin', runDir: mkdtempSync(join(tmpdir(), 'mlx-guard-bench-')) }, models: { served: [standin('a'), standin('b')], memoryBudgetBytes } });
  const sidecar = createSidecar(config, silentLogger);
  return { sidecar, url: await sidecar.start() };
}

/** Streams one chat completion; resolves with the time from its send to its first content. */
async function firstTokenMs(url: string, model: string): Promise<number> {
  const sent = performance.now();
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, stream: true });
  const response = await request(`${url}/v1/chat/completions`, { method: 'POST', body, signal: AbortSignal.timeout(60_000), headersTimeout: 0, bodyTimeout: 0 });
  if (response.statusCode !== 200) throw new Error(`${model}: ${response.statusCode} ${await response.body.text()}`);
  let first: number | undefined;
  for await (const chunk of response.body) if (first === undefined && /"content":"[^"]/.test(String(chunk))) first = performance.now();
  if (first === undefined) throw new Error(`${model}: no content came`);
  return first - sent;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

interface Case {
  case: string;
  runs: Array<{ firstTokenMs: number; timeToReadyMs: number }>;
}

/** A load of `b` with nothing in its way: `b` unloaded by the admin route before each round. */
async function loadWithRoom(): Promise<Case> {
  const { sidecar, url } = await startGuard(64 * 1024 ** 3);
  const b = sidecar.models.models[1]!;
  const runs: Case['runs'] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      await sidecar.models.unload(b, 'bench');
      const firstTokenMsValue = await firstTokenMs(url, 'b');
      runs.push({ firstTokenMs: firstTokenMsValue, timeToReadyMs: b.supervisor.status.lastTimeToReadyMs! });
    }
  } finally {
    await sidecar.stop(1_000);
  }
  return { case: 'load, room to spare', runs };
}

/** Alternating a and b under a budget that holds one: each request unloads the other model first. */
async function switchUnderBudget(): Promise<Case> {
  const { sidecar, url } = await startGuard(400 * 1024 ** 2);
  const runs: Case['runs'] = [];
  try {
    await firstTokenMs(url, 'a');
    for (let round = 0; round < ROUNDS; round++) {
      const name = round % 2 === 0 ? 'b' : 'a';
      const model = sidecar.models.find(name)!;
      const firstTokenMsValue = await firstTokenMs(url, name);
      runs.push({ firstTokenMs: firstTokenMsValue, timeToReadyMs: model.supervisor.status.lastTimeToReadyMs! });
    }
  } finally {
    await sidecar.stop(1_000);
  }
  return { case: 'switch, the other unloaded first', runs };
}

const cases = [await loadWithRoom(), await switchUnderBudget()];
const rows = cases.map(({ case: name, runs }) => {
  const added = runs.map((run) => run.firstTokenMs - run.timeToReadyMs);
  return {
    case: name,
    rounds: runs.length,
    'first token ms (median)': median(runs.map((run) => run.firstTokenMs)).toFixed(0),
    "server's time to ready ms (median)": median(runs.map((run) => run.timeToReadyMs)).toFixed(0),
    'added ms (median)': median(added).toFixed(0),
    'added ms (worst)': Math.max(...added).toFixed(0),
    verdict: median(added) < GOAL_MS ? 'ok' : 'OVER',
  };
});
console.log(`node ${process.version}; stand-in models, load time ${LOAD_TIME_MS} ms; added = first token − the model server's time to ready`);
console.table(rows);
const missed = rows.filter((row) => row.verdict !== 'ok').map((row) => row.case);
console.log(missed.length === 0 ? `verdict: a model is ready to answer within ${GOAL_MS} ms of its server being ready, in every case` : `verdict: over ${GOAL_MS} ms (${missed.join('; ')})`);
process.exit(0);
