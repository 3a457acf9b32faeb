// What reaching an inference worker costs a request, measured in one run on the machine at hand:
// a Piscina task that carries a MessagePort of its own (made and transferred per call: how every
// inference call reached its worker first); a Piscina task that carries only an id, its messages
// on the worker's line (how they did next); the call itself on the line of a worker Piscina
// started (src/pool/worker-line.ts: how they do now); and, as the floor, a plain postMessage to a
// worker of its own, with no pool. Calls one
// at a time, spaced as requests at a modest rate are, so that the worker sleeps between them as it
// does in service; medians of each direction, both threads on one clock, and of the caller's own
// time in the call (until `run` or `postMessage` returns: main-thread time every request pays).
//
//   npm run bench:hop
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';

const CALLS = Number(process.env.CALLS ?? 400);
const SPACING_MS = 5;
const now = () => performance.timeOrigin + performance.now();
const pool = new Piscina({ filename: new URL('./support/hop-worker.mjs', import.meta.url).href, minThreads: 1, maxThreads: 1, concurrentTasksPerWorker: 64, atomics: 'disabled' });

const plain = new Worker(new URL('./support/hop-worker.mjs', import.meta.url), { workerData: 'plain' });

// The line of a worker that Piscina keeps, offered as it starts.
const linePool = new Piscina({ filename: new URL('./support/hop-worker.mjs', import.meta.url).href, minThreads: 1, maxThreads: 1, atomics: 'disabled', workerData: 'line' });
const line = await new Promise<MessagePort>((resolve) => linePool.once('message', (message: { line: MessagePort }) => resolve(message.line)));
const onLine = new Map<number, (answer: { began: number }) => void>();
line.on('message', ({ id, began }: { id: number; began: number }) => onLine.get(id)?.({ began }));
let lastLineId = 0;

type Way = 'a port per call' | 'a task with an id' | 'a call on the line' | 'plain postMessage, no pool';
/** Each way's call: what it returns at once (when the caller's own part is done), and its answer. */
const calls: Record<Way, () => { returned: number; answer: Promise<{ began: number }> }> = {
  'a port per call': () => {
    const { port1, port2 } = new MessageChannel();
    port1.on('message', () => undefined);
    const answer = pool.run({ port: port2 }, { name: 'withPort', transferList: [port2] }) as Promise<{ began: number }>;
    const returned = now();
    return { returned, answer: answer.finally(() => port1.close()) };
  },
  'a task with an id': () => {
    const answer = pool.run({ id: 1 }, { name: 'withId' }) as Promise<{ began: number }>;
    return { returned: now(), answer };
  },
  'a call on the line': () => {
    const id = ++lastLineId;
    const answer = new Promise<{ began: number }>((resolve) => onLine.set(id, resolve)).finally(() => onLine.delete(id));
    line.postMessage({ id });
    return { returned: now(), answer };
  },
  'plain postMessage, no pool': () => {
    const answer = new Promise<{ began: number }>((resolve) => plain.once('message', resolve));
    plain.postMessage({ id: 1 });
    return { returned: now(), answer };
  },
};

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const samples = Object.fromEntries(Object.keys(calls).map((way) => [way, { caller: [] as number[], there: [] as number[], back: [] as number[] }])) as Record<Way, { caller: number[]; there: number[]; back: number[] }>;
// Alternating, so that the machine's drift falls on both alike; the first calls warm up.
for (let i = 0; i < CALLS + 20; i++) {
  for (const way of Object.keys(calls) as Way[]) {
    await new Promise((resolve) => setTimeout(resolve, SPACING_MS));
    const sent = now();
    const { returned, answer } = calls[way]();
    const { began } = await answer;
    const answered = now();
    if (i < 20) continue;
    samples[way].caller.push((returned - sent) * 1000);
    samples[way].there.push((began - sent) * 1000);
    samples[way].back.push((answered - began) * 1000);
  }
}
await pool.destroy();
await linePool.destroy();
await plain.terminate();

const rows = (Object.keys(samples) as Way[]).map((way) => ({
  way,
  "the caller's own time µs (median)": median(samples[way].caller).toFixed(1),
  'to the worker µs (median)': median(samples[way].there).toFixed(1),
  'back µs (median)': median(samples[way].back).toFixed(1),
}));
console.log(`node ${process.version}; ${CALLS} calls each way, one at a time, ${SPACING_MS} ms apart, alternating`);
console.table(rows);
const there = (way: Way) => median(samples[way].there);
const caller = (way: Way) => median(samples[way].caller);
console.log(`a Piscina task's own part: ${(there('a task with an id') - there('plain postMessage, no pool')).toFixed(1)} µs more to the worker than a plain postMessage, of which ${(caller('a task with an id') - caller('plain postMessage, no pool')).toFixed(1)} µs in the caller's thread`);
const saved = there('a task with an id') - there('a call on the line');
const aboveFloor = there('a call on the line') - there('plain postMessage, no pool');
console.log(`verdict: a call on the line ${saved > 0 ? `saves ${saved.toFixed(1)} µs` : `saves nothing (${saved.toFixed(1)} µs)`} of each call's way to its worker against a Piscina task, and costs ${aboveFloor.toFixed(1)} µs more than the floor`);
