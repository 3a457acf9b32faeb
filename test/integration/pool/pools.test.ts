import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Pools } from '../../../src/pool/pools.js';
import { until } from '../../support/processes.js';

describe('worker pools', () => {
  it('a pool whose workers fail to start answers at once (never hangs) and is rebuilt after a pause', async () => {
    const events: string[] = [];
    const logger = pino({ level: 'error' }, new Writable({ write: (chunk: Buffer, _e, done) => (events.push(chunk.toString()), done()) }));
    const pools = new Pools(logger, { workerFile: new URL('../../fixtures/broken-worker.mjs', import.meta.url).href });
    try {
      const result = await pools.infer({
        url: 'http://127.0.0.1:9/none',
        body: '{}',
        upstreamStreams: true,
        headersTimeoutMs: 1_000,
        idleTimeoutMs: 1_000,
        deadlineMs: 3_000,
        signal: new AbortController().signal,
        onMessage: () => undefined,
      });
      expect(result).toMatchObject({ ok: false, error: { countsAsFailure: true } });
      // One error for the first pool of each kind, then more as the rebuilt pools fail again.
      await until('a rebuilt pool to fail in turn', () => (events.filter((e) => e.includes('"pool":"inference"')).length >= 2 ? true : undefined), 5_000);
      expect(events.join('\n')).toContain('this worker is broken on purpose');
    } finally {
      await pools.close();
    }
  });

  it('parsing in the pool returns the same result as in-process', async () => {
    const pools = new Pools(pino({ level: 'silent' }));
    try {
      const result = await pools.parseTools('<tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call>', {}, 10_000);
      expect(result).toMatchObject({ status: 'ok', calls: [{ name: 'f', arguments: { a: 1 } }] });
    } finally {
      await pools.close();
    }
  });
});
