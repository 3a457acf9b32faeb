// An open-loop load generator with microsecond resolution, for latency budgets under a
// millisecond. autocannon cannot judge those: it records whole milliseconds, its `overallRate`
// sends each connection's quota for the second back to back and then waits, and its
// coordinated-omission correction assumes a 1 ms interval between requests whatever the rate, so
// every answer slower than 1 ms gains phantom samples. Here requests leave on an even schedule
// whether or not earlier ones have answered, and each is timed from the moment it was sent.
import { Pool } from 'undici';

export interface OpenLoopOptions {
  /** The request's headers (default: JSON's content type). */
  headers?: Record<string, string>;
  /** Requests per second, spread evenly. */
  rate: number;
  durationMs: number;
  path: string;
  body: string;
  /** Time to the first body byte (a streamed answer's first token) instead of the whole answer. */
  firstByte?: boolean;
}

export interface OpenLoopResult {
  /** Latency of each answered request, in milliseconds, sorted. */
  samples: Float64Array;
  sent: number;
  /** Answers other than 200. */
  failed: number;
  /** How many answers came with each status. */
  statuses: Record<number, number>;
}

/**
 * Keeps enough connections that a request never waits for one at the rates measured here. An
 * answer that takes 10 s counts as failed rather than holding the run up.
 */
export function createTarget(origin: string, connections = 32): Pool {
  return new Pool(origin, { connections, pipelining: 1, headersTimeout: 10_000, bodyTimeout: 10_000 });
}

export async function openLoop(target: Pool, options: OpenLoopOptions): Promise<OpenLoopResult> {
  const interval = 1000 / options.rate;
  const total = Math.floor(options.durationMs / interval);
  const samples = new Float64Array(total);
  let answered = 0;
  let failed = 0;
  const statuses: Record<number, number> = {};
  const pending = new Set<Promise<void>>();

  const send = () => {
    const started = performance.now();
    const request = target
      .request({ path: options.path, method: 'POST', headers: options.headers ?? { 'content-type': 'application/json' }, body: options.body })
      .then(async ({ statusCode, body }) => {
        if (options.firstByte) {
          for await (const _chunk of body) {
            samples[answered++] = performance.now() - started;
            break;
          }
          body.destroy();
        } else {
          await body.text();
          samples[answered++] = performance.now() - started;
        }
        statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
        if (statusCode !== 200) failed++;
      })
      .catch(() => void failed++)
      .finally(() => pending.delete(request));
    pending.add(request);
  };

  const begin = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor((performance.now() - begin) / interval) + 1);
    while (sent < due) {
      send();
      sent++;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, begin + sent * interval - performance.now())));
  }
  await Promise.all(pending);
  const result = samples.subarray(0, answered).sort();
  return { samples: result, sent, failed, statuses };
}

/** The p-th percentile of sorted samples (nearest rank). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
