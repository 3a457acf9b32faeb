// Connection slots and the queue, held against clients that take them to do nothing with them:
// trickled headers, trickled bodies (on /health, which reads none, and on the inference routes,
// which do). Bound: with 600 hostile sockets of each kind, /health and an ordinary client are
// served within 1 s, every time; no one gets queue_full for others' slow bodies.
import { describe, expect, it } from 'vitest';
import { describeFigures, figures, innocentClient, startGuard, trickle } from '../support/hostile.js';
import { until } from '../support/processes.js';

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
});
