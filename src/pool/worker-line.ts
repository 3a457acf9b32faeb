// The inference worker's end of its line to the calling thread (see `InferLineOffer`): opened
// with the worker's first call, it carries each call's messages out and its control in.
import { MessageChannel, parentPort, type MessagePort } from 'node:worker_threads';
import { CALL_STARTED, type InferControlMessage, type InferLineControl, type InferLineMessage, type InferLineOffer, type InferPortMessage } from './messages.js';

type ControlHandler = (control: InferControlMessage) => void;

const running = new Map<number, ControlHandler>();
let line: MessagePort | undefined;

function openLine(): MessagePort {
  if (!parentPort) throw new Error('an inference call runs in a worker thread');
  const { port1, port2 } = new MessageChannel();
  port1.on('message', ({ id, control }: InferLineControl) => {
    const handler = running.get(id);
    if (handler) handler(control);
    // A parser handed to a call that has ended: closing its feed ends that parse stream.
    else if (control.type === 'parse') control.port?.close();
  });
  // The calls keep the worker busy while they run; the line alone does not.
  port1.unref();
  parentPort.postMessage({ inferenceLine: port2 } satisfies InferLineOffer, [port2]);
  return port1;
}

export interface CallOnLine {
  post(message: InferPortMessage): void;
  /** The call ended: control sent for it from now on is dropped. */
  end(): void;
}

/** Puts call `id` on this worker's line: its control goes to `onControl`; the calling thread hears that it started. */
export function callOnLine(id: number, onControl: ControlHandler): CallOnLine {
  const port = (line ??= openLine());
  running.set(id, onControl);
  const post = (message: InferPortMessage) => port.postMessage({ id, message } satisfies InferLineMessage);
  post(CALL_STARTED);
  return { post, end: () => void running.delete(id) };
}
