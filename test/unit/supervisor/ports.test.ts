import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, PORT_RANGE } from '../../../src/supervisor/ports.js';

const listening: Server[] = [];
afterEach(async () => {
  await Promise.all(listening.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function occupy(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    listening.push(server);
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
}

describe('freePort', () => {
  it('draws a port below the ephemeral range, so no outgoing connection can take it before the child binds', async () => {
    const port = await freePort('127.0.0.1');
    expect(port).toBeGreaterThanOrEqual(PORT_RANGE.first);
    expect(port).toBeLessThan(PORT_RANGE.end);
    await occupy(port); // it was free
  });

  it('passes over a port that is taken and one it handed out already', async () => {
    const picks = [0.5, 0.5, 0.25, 0.75];
    const random = () => picks.shift() ?? 0.9;
    const middle = PORT_RANGE.first + Math.floor(0.5 * (PORT_RANGE.end - PORT_RANGE.first));
    const quarter = PORT_RANGE.first + Math.floor(0.25 * (PORT_RANGE.end - PORT_RANGE.first));
    const first = await freePort('127.0.0.1', random);
    expect(first).toBe(middle);
    await occupy(quarter);
    // 0.5 was handed out, 0.25 is taken: the next one is 0.75's
    expect(await freePort('127.0.0.1', random)).toBe(PORT_RANGE.first + Math.floor(0.75 * (PORT_RANGE.end - PORT_RANGE.first)));
  });
});
