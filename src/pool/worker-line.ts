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

/**
 * How long a call runs before it tells the calling thread that it started, unless that must be at
 * once. Until then its control (an abort, a pause) waits on the calling thread; a call that ends
 * sooner (a fast answer) never says it: one message, and one wake of the main thread, fewer per call.
 */
const ANNOUNCE_START_AFTER_MS = 20;

/**
 * Puts call `id` on this worker's line: its control goes to `onControl`. The calling thread hears
 * that it started (and so where its control goes) after `ANNOUNCE_START_AFTER_MS`, or, for a call
 * whose control cannot wait (a parser's feed is handed over on the line), once this turn of the
 * event loop is over, so that the call's first I/O (its request to the model server), issued in
 * the same turn, leaves first. A message wakes the calling thread, and that wake, before the
 * request, held the model server's answer back: on the 2-core CI machine a worker's time to a
 * fast server's response headers was 0.25 ms alone, 0.45 ms with a message posted just before the
 * request, 0.28 ms with the message posted on `setImmediate`.
 */
export function callOnLine(id: number, onControl: ControlHandler, { controlAtOnce = false }: { controlAtOnce?: boolean } = {}): CallOnLine {
  const port = (line ??= openLine());
  running.set(id, onControl);
  const post = (message: InferPortMessage) => port.postMessage({ id, message } satisfies InferLineMessage);
  const announce = () => post(CALL_STARTED);
  const soon = controlAtOnce ? setImmediate(announce) : undefined;
  const later = controlAtOnce ? undefined : setTimeout(announce, ANNOUNCE_START_AFTER_MS);
  return {
    post,
    end: () => {
      clearImmediate(soon);
      clearTimeout(later);
      running.delete(id);
    },
  };
}
