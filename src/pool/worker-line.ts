// The inference worker's end of its line to the calling thread (see `InferLineOffer`): offered as
// the worker starts, it brings each call and its control in, and takes its messages and result out.
import { MessageChannel, parentPort, workerData } from 'node:worker_threads';
import type { InferControlMessage, InferLineIn, InferLineOffer, InferLineOut, InferMessage, InferResult, InferTask } from './messages.js';

/** What a running call has of its line. */
export interface CallOnLine {
  post(message: InferMessage): void;
  /** Where the call's control goes; set before the call's first await, so that nothing sent for it is missed. */
  onControl(handler: (control: InferControlMessage) => void): void;
}

export type InferenceRunner = (task: InferTask, call: CallOnLine) => Promise<InferResult>;

/** The role the pool gave this thread (`workerData.role`): one worker module serves both pools. */
export const isInferenceWorker = (workerData as { role?: string } | null)?.role === 'inference';

/** Offers this worker's line and runs each call that comes on it with `run`; its result is the call's last message. */
export function serveInferenceLine(run: InferenceRunner): void {
  if (!parentPort) throw new Error('an inference line is served from a worker thread');
  const controls = new Map<number, (control: InferControlMessage) => void>();
  const { port1: line, port2 } = new MessageChannel();
  const send = (out: InferLineOut) => line.postMessage(out);

  const start = async (id: number, task: InferTask) => {
    let result: InferResult;
    try {
      result = await run(task, { post: (message) => send({ id, message }), onControl: (handler) => controls.set(id, handler) });
    } catch (error) {
      result = { ok: false, error: { code: 'ERR_INTERNAL', message: String((error as Error)?.message ?? error), countsAsFailure: true, aborted: false } };
    }
    controls.delete(id);
    send({ id, result });
  };

  line.on('message', (message: InferLineIn) => {
    if ('task' in message) return void start(message.id, message.task);
    const handler = controls.get(message.id);
    if (handler) handler(message.control);
    // A parser handed to a call that has ended: closing its feed ends that parse stream.
    else if (message.control.type === 'parse') message.control.port?.close();
  });
  // Piscina keeps the thread; the calls keep their own I/O alive while they run.
  line.unref();
  parentPort.postMessage({ inferenceLine: port2 } satisfies InferLineOffer, [port2]);
}
