// No vitest import here: bench/mlx.bench.ts uses it too.
import { createServer as createNetServer, type AddressInfo } from 'node:net';

/** A port free on 127.0.0.1 a moment ago (for a server that must be restarted on the same port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
