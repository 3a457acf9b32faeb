// Connection slots and the queue, held against clients that take them to do nothing with them:
// trickled headers, trickled bodies (on /health, which reads none, and on the inference routes,
// which do). Bound: with 600 hostile sockets of each kind, /health and an ordinary client are
// served within 1 s, every time; no one gets queue_full for others' slow bodies; a burst of 600
// connections arriving while mlx-guard is busy is queued whole, so the next client is not dropped.
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { acceptQueueCap } from '../../src/server/accept-queue.js';
import { chatBody, describeFigures, figures, innocentClient, startGuard, trickle } from '../support/hostile.js';
import { until } from '../support/processes.js';
import { post, rawRequest } from '../support/raw-http.js';

const ATTACKERS = 600;
const MEASURE_MS = 15_000;

describe('one client cannot take the connection slots or the queue from the others', () => {
  it('600 sockets trickling headers and 600 trickling a 100 MB body to /health: /health and an ordinary client are served within 1 s, every time', async () => {
    const guard = await startGuard();
    const alone = await innocentClient(guard.port, 5_000);
    const headers = trickle(guard.port, ATTACKERS, 'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'X-Slow: 1\r\n');
    const bodies = trickle(guard.port, ATTACKERS, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\n');
    try {
      // The slots are full before the measurement starts.
      await until('the attackers connected', () => (headers.connected() + bodies.connected() >= 512 ? true : undefined), 20_000);
      const attacked = await innocentClient(guard.port, MEASURE_MS);
      console.log(describeFigures('innocent client alone', alone));
      console.log(describeFigures(`innocent client beside ${ATTACKERS} trickled headers + ${ATTACKERS} trickled /health bodies`, attacked));
      expect(figures(alone).ok).toBe(1);
      expect(attacked.filter((seen) => seen.status !== 200)).toEqual([]);
      expect(figures(attacked).max).toBeLessThan(1_000);
    } finally {
      headers.stop();
      bodies.stop();
    }
  }, 90_000);

  it('600 sockets trickling bodies to the inference route: no ordinary client gets queue_full, each is served within 1 s', async () => {
    const guard = await startGuard();
    const alone = await innocentClient(guard.port, 5_000);
    const slow = trickle(guard.port, ATTACKERS, 'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"messages": [');
    try {
      await until('the attackers connected', () => (slow.connected() >= 512 ? true : undefined), 20_000);
      const attacked = await innocentClient(guard.port, MEASURE_MS);
      console.log(describeFigures('innocent client alone', alone));
      console.log(describeFigures(`innocent client beside ${ATTACKERS} slow bodies to /v1/chat/completions`, attacked));
      expect(attacked.filter((seen) => seen.status !== 200)).toEqual([]);
      expect(figures(attacked).max).toBeLessThan(1_000);
    } finally {
      slow.stop();
    }
  }, 90_000);

  it('600 connections arriving together while mlx-guard is busy: the kernel queues every one, and an ordinary client right after them is served within 1 s', async () => {
    const guard = await startGuard();
    // The first answer of a fresh mlx-guard is slow (its workers warm up): not what is measured here.
    expect((await rawRequest(guard.port, post('/v1/chat/completions', chatBody('a first question')), 10_000)).status).toBe(200);
    const burst: Socket[] = [];
    let queued = 0;
    // A stopped process accepts nothing, as a busy one for a moment: the handshakes complete in
    // the kernel, into the listening socket's queue, until it is full; then SYNs are dropped and
    // a client waits a second for its retry (the 1,026 ms CI saw under the slow bodies above).
    process.kill(guard.process.pid, 'SIGSTOP');
    try {
      for (let i = 0; i < ATTACKERS; i++) {
        const socket = connect(guard.port, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.once('connect', () => queued++);
        burst.push(socket);
      }
      await until('the burst queued', () => (queued >= ATTACKERS ? true : undefined), 3_000).catch(() => undefined);
      expect(queued, `connections the kernel queued for mlx-guard while it accepted none (the listen backlog, capped at somaxconn = ${await acceptQueueCap()})`).toBe(ATTACKERS);
      const started = performance.now();
      const answer = rawRequest(guard.port, post('/v1/chat/completions', chatBody('right after the burst')), 10_000);
      await new Promise((resolve) => setTimeout(resolve, 100));
      process.kill(guard.process.pid, 'SIGCONT');
      const { status } = await answer;
      const ms = performance.now() - started;
      console.log(`ordinary client right after ${ATTACKERS} connections queued for a stopped mlx-guard (stopped 100 ms more): ${status} in ${ms.toFixed(1)} ms`);
      expect(status).toBe(200);
      expect(ms).toBeLessThan(1_000);
    } finally {
      process.kill(guard.process.pid, 'SIGCONT');
      for (const socket of burst) socket.destroy();
    }
  }, 60_000);
});
