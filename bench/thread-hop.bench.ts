// What reaching an inference worker costs a request, two ways, measured in one run on the
// machine at hand: a Piscina task that carries a MessagePort of its own (made and transferred
// per call: how every inference call reached its worker before the worker's line), and a task
// that carries only an id (the line, src/pool/worker-line.ts, made once per worker, carries its
// messages). Calls one at a time, spaced as requests at a modest rate are, so that the worker
// sleeps between them as it does in service; medians of each direction, both threads on one clock.
//
//   npm run bench:hop
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';

const CALLS = Number(process.env.CALLS ?? 400);
const SPACING_MS = 5;
const now = () => performance.timeOrigin + performance.now();
const pool = new Piscina({ filename: new URL('./support/hop-worker.mjs', import.meta.url).href, minThreads: 1, maxThreads: 1, concurrentTasksPerWorker: 64, atomics: 'disabled' });

type Way = 'a port per call' | 'an id on the line';
const calls: Record<Way, () => Promise<{ began: number }>> = {
  'a port per call': async () => {
    const { port1, port2 } = new MessageChannel();
    port1.on('message', () => undefined);
    try {
      return (await pool.run({ port: port2 }, { name: 'withPort', transferList: [port2] })) as { began: number };
    } finally {
      port1.close();
    }
  },
  'an id on the line': () => pool.run({ id: 1 }, { name: 'withId' }) as Promise<{ began: number }>,
};

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const samples = Object.fromEntries(Object.keys(calls).map((way) => [way, { there: [] as number[], back: [] as number[] }])) as Record<Way, { there: number[]; back: number[] }>;
// Alternating, so that the machine's drift falls on both alike; the first calls warm up.
for (let i = 0; i < CALLS + 20; i++) {
  for (const way of Object.keys(calls) as Way[]) {
    await new Promise((resolve) => setTimeout(resolve, SPACING_MS));
    const sent = now();
    const { began } = await calls[way]();
    const answered = now();
    if (i < 20) continue;
    samples[way].there.push((began - sent) * 1000);
    samples[way].back.push((answered - began) * 1000);
  }
}
await pool.destroy();

const rows = (Object.keys(samples) as Way[]).map((way) => ({ way, 'to the worker µs (median)': median(samples[way].there).toFixed(1), 'back µs (median)': median(samples[way].back).toFixed(1) }));
console.log(`node ${process.version}; ${CALLS} calls each way, one at a time, ${SPACING_MS} ms apart, alternating`);
console.table(rows);
const saved = median(samples['a port per call'].there) - median(samples['an id on the line'].there);
console.log(`verdict: ${saved > 0 ? `the line saves ${saved.toFixed(1)} µs of each call's way to its worker` : `the line saves nothing here (${saved.toFixed(1)} µs)`}`);
