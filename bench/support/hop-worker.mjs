// The worker of bench/thread-hop.bench.ts: each task answers at once with the moment it began,
// having reached the worker either with a port of its own (transferred with the task) or with
// an id alone (the worker's one line carries its messages, as src/pool/worker-line.ts does); or,
// started plain, each message on its own port (the floor: no pool at all).
import { isMainThread, parentPort, workerData } from 'node:worker_threads';

const now = () => performance.timeOrigin + performance.now();

// Started as a plain worker (no Piscina): each message is answered at once, on the worker's own port.
if (!isMainThread && workerData === 'plain') parentPort.on('message', () => parentPort.postMessage({ began: now() }));

export function withPort(task) {
  const began = now();
  task.port.on('message', () => undefined);
  task.port.close();
  return { began };
}

export function withId(task) {
  return { began: now(), id: task.id };
}

export default withId;
