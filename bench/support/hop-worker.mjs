// The worker of bench/thread-hop.bench.ts: each task answers at once with the moment it began,
// having reached the worker either with a port of its own (transferred with the task) or with
// an id alone; or, started by Piscina as a line's worker, each call on the line it offers as it
// starts (as src/pool/worker-line.ts does); or, started plain, each message on its own port (the
// floor: no pool at all).
import { isMainThread, MessageChannel, parentPort, workerData } from 'node:worker_threads';

const now = () => performance.timeOrigin + performance.now();

// Started as a plain worker (no Piscina): each message is answered at once, on the worker's own port.
if (!isMainThread && workerData === 'plain') parentPort.on('message', () => parentPort.postMessage({ began: now() }));

// Started by Piscina to serve a line: it offers the line once, then answers each call on it.
if (!isMainThread && workerData === 'line') {
  const { port1, port2 } = new MessageChannel();
  port1.on('message', ({ id }) => port1.postMessage({ id, began: now() }));
  port1.unref();
  parentPort.postMessage({ line: port2 }, [port2]);
}

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
