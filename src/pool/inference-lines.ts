import type { MessagePort } from 'node:worker_threads';
import type { InferControlMessage, InferLineIn, InferLineOut, InferMessage, InferResult, InferTask, InternalErrorCode } from './messages.js';

const failed = (code: InternalErrorCode, message: string, aborted = false): InferResult => ({ ok: false, error: { code, message, countsAsFailure: !aborted, aborted } });

/** One call as the calling thread holds it: on a worker's line, or waiting for room on one. */
export class LineCall {
  line: Line | undefined;
  /** Control given while the call waits for a line; sent once it has one. */
  #held: InferControlMessage[] = [];
  #ended = false;
  #resolve!: (result: InferResult) => void;
  /** Its worker's result, or the failure that ended it first (worker lost, aborted while waiting). */
  readonly result = new Promise<InferResult>((resolve) => (this.#resolve = resolve));

  constructor(
    readonly id: number,
    readonly task: InferTask,
    readonly onMessage: (message: InferMessage) => void,
  ) {}

  get ended(): boolean {
    return this.#ended;
  }

  finish(result: InferResult): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const control of this.#held.splice(0)) if (control.type === 'parse') control.port?.close();
    this.#resolve(result);
  }

  /** Control held while waiting: only the last pause or resume matters, so the list stays a few entries long. */
  hold(control: InferControlMessage): void {
    if (control.type === 'pause' || control.type === 'resume') this.#held = this.#held.filter((held) => held.type !== 'pause' && held.type !== 'resume');
    this.#held.push(control);
  }

  takeHeld(): InferControlMessage[] {
    return this.#held.splice(0);
  }
}

/** A worker's line and the calls on it. */
class Line {
  readonly calls = new Map<number, LineCall>();
  constructor(readonly port: MessagePort) {}

  send(message: InferLineIn, control?: InferControlMessage): void {
    this.port.postMessage(message, control?.type === 'parse' && control.port ? [control.port] : []);
  }
}

/**
 * The inference workers' lines, and the calls sent over them: each to the line with the fewest
 * calls, at most `perWorker` a line; the rest wait here in order. A line that closes (its worker
 * died) fails its calls at once; the pool starts a new worker, whose line takes the waiting ones.
 */
export class InferenceLines {
  readonly #lines: Line[] = [];
  readonly #waiting: LineCall[] = [];
  #lastId = 0;

  constructor(readonly perWorker: number) {}

  get waiting(): number {
    return this.#waiting.length;
  }

  get running(): number {
    let running = 0;
    for (const line of this.#lines) running += line.calls.size;
    return running;
  }

  get lines(): number {
    return this.#lines.length;
  }

  /** A worker offered its line (see `InferLineOffer`). */
  take(port: MessagePort): void {
    const line = new Line(port);
    this.#lines.push(line);
    port.on('message', (out: InferLineOut) => {
      const call = line.calls.get(out.id);
      if (!call) return;
      if ('message' in out) return call.onMessage(out.message);
      this.#off(line, call);
      call.finish(out.result);
    });
    port.on('close', () => {
      this.#lines.splice(this.#lines.indexOf(line), 1);
      for (const call of line.calls.values()) call.finish(failed('ERR_WORKER', 'the inference worker stopped while the call ran'));
      line.calls.clear();
    });
    // Calls in flight keep the process alive (see `#on`); an idle line does not.
    port.unref();
    this.#dispatchWaiting();
  }

  /** No worker can take calls (the pool failed to start one): the waiting calls fail now, not at their deadline. */
  failWaiting(message: string): void {
    for (const call of this.#waiting.splice(0)) call.finish(failed('ERR_WORKER', message));
  }

  call(task: InferTask, onMessage: (message: InferMessage) => void): LineCall {
    const call = new LineCall(++this.#lastId, task, onMessage);
    const line = this.#roomiest();
    if (line) this.#send(line, call);
    else this.#waiting.push(call);
    return call;
  }

  /** Control for a call: sent on its line, held while it waits, dropped once it ended (a parser's feed closed). */
  control(call: LineCall, control: InferControlMessage): void {
    if (call.ended) return control.type === 'parse' ? control.port?.close() : undefined;
    if (call.line) return call.line.send({ id: call.id, control }, control);
    if (control.type !== 'abort') return call.hold(control);
    // Aborted before it reached a worker: it never will.
    const at = this.#waiting.indexOf(call);
    if (at >= 0) this.#waiting.splice(at, 1);
    call.finish(failed('ABORTED', 'the call was cancelled before it started', true));
  }

  #roomiest(): Line | undefined {
    let best: Line | undefined;
    for (const line of this.#lines) if (line.calls.size < this.perWorker && (!best || line.calls.size < best.calls.size)) best = line;
    return best;
  }

  #send(line: Line, call: LineCall): void {
    call.line = line;
    if (line.calls.size === 0) line.port.ref();
    line.calls.set(call.id, call);
    line.send({ id: call.id, task: call.task });
    for (const control of call.takeHeld()) line.send({ id: call.id, control }, control);
  }

  #off(line: Line, call: LineCall): void {
    line.calls.delete(call.id);
    if (line.calls.size === 0) line.port.unref();
    this.#dispatchWaiting();
  }

  #dispatchWaiting(): void {
    while (this.#waiting.length > 0) {
      const line = this.#roomiest();
      if (!line) return;
      this.#send(line, this.#waiting.shift()!);
    }
  }
}
