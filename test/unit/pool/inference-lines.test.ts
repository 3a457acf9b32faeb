import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { InferenceLines } from '../../../src/pool/inference-lines.js';
import type { InferLineIn, InferLineOut, InferTask } from '../../../src/pool/messages.js';
import { until } from '../../support/processes.js';

const task = (url: string): InferTask => ({ url, body: '{}', upstreamStreams: false, headersTimeoutMs: 1_000, idleTimeoutMs: 1_000 });

/** A worker's end of a line, in this thread: what came on it, and a way to answer. */
function workerEnd(port: MessagePort) {
  const received: InferLineIn[] = [];
  port.on('message', (message: InferLineIn) => received.push(message));
  return { received, answer: (out: InferLineOut) => port.postMessage(out), close: () => port.close() };
}

const opened: MessagePort[] = [];
function line(lines: InferenceLines) {
  const { port1, port2 } = new MessageChannel();
  opened.push(port1, port2);
  lines.take(port1);
  return workerEnd(port2);
}
afterEach(() => opened.splice(0).forEach((port) => port.close()));

/** Messages cross ports in order: waiting for `count` of them on a line is waiting for all before. */
const received = (end: { received: InferLineIn[] }, count: number) => until(`${count} messages on the line`, () => (end.received.length >= count ? true : undefined), 5_000);

describe('InferenceLines', () => {
  it('sends each call to the line with the fewest calls; past their room calls wait, in order, for the first line to free one', async () => {
    const lines = new InferenceLines(1);
    const a = line(lines);
    const b = line(lines);
    const first = lines.call(task('first'), () => undefined);
    const second = lines.call(task('second'), () => undefined);
    const third = lines.call(task('third'), () => undefined);
    const fourth = lines.call(task('fourth'), () => undefined);
    await received(a, 1);
    await received(b, 1);
    expect(a.received).toEqual([{ id: first.id, task: task('first') }]);
    expect(b.received).toEqual([{ id: second.id, task: task('second') }]);
    expect(lines.waiting).toBe(2);
    b.answer({ id: second.id, result: { ok: true } });
    expect(await second.result).toEqual({ ok: true });
    await received(b, 2);
    expect(b.received.at(-1)).toEqual({ id: third.id, task: task('third') });
    expect(lines.waiting).toBe(1);
    void fourth;
  });

  it('a call\'s messages reach it, then its result; control goes on its line, and is held while it waits', async () => {
    const lines = new InferenceLines(1);
    const a = line(lines);
    const messages: unknown[] = [];
    const running = lines.call(task('one'), (message) => messages.push(message));
    const waiting = lines.call(task('two'), () => undefined);
    lines.control(running, { type: 'pause' });
    lines.control(waiting, { type: 'pause' });
    lines.control(waiting, { type: 'resume' });
    a.answer({ id: running.id, message: { type: 'progress' } });
    a.answer({ id: running.id, result: { ok: true } });
    expect(await running.result).toEqual({ ok: true });
    expect(messages).toEqual([{ type: 'progress' }]);
    await received(a, 4);
    // The waiting call went out once there was room, with the last of its held pause and resume.
    expect(a.received).toEqual([
      { id: running.id, task: task('one') },
      { id: running.id, control: { type: 'pause' } },
      { id: waiting.id, task: task('two') },
      { id: waiting.id, control: { type: 'resume' } },
    ]);
  });

  it('a call aborted while it waits ends at once, aborted, and never reaches a worker', async () => {
    const lines = new InferenceLines(1);
    const a = line(lines);
    const running = lines.call(task('one'), () => undefined);
    const waiting = lines.call(task('two'), () => undefined);
    lines.control(waiting, { type: 'abort' });
    expect(await waiting.result).toMatchObject({ ok: false, error: { code: 'ABORTED', aborted: true, countsAsFailure: false } });
    a.answer({ id: running.id, result: { ok: true } });
    await running.result;
    // A call made after it: once it is on the line, anything sent before would be too.
    const after = lines.call(task('three'), () => undefined);
    await received(a, 2);
    expect(a.received.map((message) => message.id)).toEqual([running.id, after.id]);
  });

  it('a line that closes (its worker died) fails its calls at once; the waiting ones go to the next line offered', async () => {
    const lines = new InferenceLines(1);
    const a = line(lines);
    const running = lines.call(task('one'), () => undefined);
    const waiting = lines.call(task('two'), () => undefined);
    a.close();
    expect(await running.result).toMatchObject({ ok: false, error: { code: 'ERR_WORKER', countsAsFailure: true } });
    expect(lines.lines).toBe(0);
    const b = line(lines);
    await received(b, 1);
    expect(b.received).toEqual([{ id: waiting.id, task: task('two') }]);
  });

  it('with no worker able to start, the waiting calls fail now, not at their deadline', async () => {
    const lines = new InferenceLines(4);
    const waiting = lines.call(task('one'), () => undefined);
    lines.failWaiting('no inference worker could start: broken');
    expect(await waiting.result).toMatchObject({ ok: false, error: { code: 'ERR_WORKER', message: 'no inference worker could start: broken' } });
  });
});
