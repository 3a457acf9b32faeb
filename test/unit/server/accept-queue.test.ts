import { describe, expect, it } from 'vitest';
import { acceptBacklog, acceptQueueCap, raiseCapCommand } from '../../../src/server/accept-queue.js';

describe('the accept queue', () => {
  it('is asked for as many connections as the slots take in before refusing one: twice maxConnections', () => {
    expect(acceptBacklog(512)).toBe(1024);
  });

  it("reads the operating system's cap where it is kept, and gives none where it is not", async () => {
    if (process.platform === 'linux' || process.platform === 'darwin') expect(await acceptQueueCap()).toBeGreaterThan(0);
    expect(await acceptQueueCap('win32')).toBeUndefined();
  });

  it('names the sysctl of each system', () => {
    expect(raiseCapCommand(1024, 'darwin')).toBe('sudo sysctl -w kern.ipc.somaxconn=1024');
    expect(raiseCapCommand(1024, 'linux')).toBe('sudo sysctl -w net.core.somaxconn=1024');
  });
});
