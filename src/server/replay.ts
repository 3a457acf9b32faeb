import type { PublicErrorCode } from '../answer/index.js';
import type { Permit } from '../breaker/index.js';
import type { ModelServerLostError, Serving } from '../supervisor/index.js';
import type { CompletionDependencies, ServedModel } from './dependencies.js';
import { describePoison, type LossVerdict } from '../journal/index.js';
import { answerLost, KEEPALIVE_EVERY_MS, type Responder } from './pipeline.js';

/** How one attempt ended: handled (answered or failed), or cut short because its model server was lost. */
export type AttemptEnd = { kind: 'done' } | { kind: 'lost'; reason: ModelServerLostError; verdict: LossVerdict };

/**
 * After its model server was lost: a server and a permit to send the request again (and `leave`,
 * to call once it ran; `alone` when it holds the server to itself, as a suspect), or undefined once the client has been answered instead (poison, content
 * already shown, replays spent, the deadline passed, the client gone, the breaker open).
 */
export async function prepareReplay(
  lost: Extract<AttemptEnd, { kind: 'lost' }>,
  replays: number,
  request: { id: string; digest: string; responder: Responder; deadlineAt: number; clientGone: AbortSignal; bodyBytes: number },
  model: ServedModel,
  deps: CompletionDependencies,
): Promise<{ serving: Serving; permit: Permit; leave: () => void; alone: boolean } | undefined> {
  const { config, logger } = deps;
  const { supervisor } = model;
  const { reason, verdict } = lost;
  const { id, digest, responder, deadlineAt, clientGone } = request;
  if (verdict === 'poison') {
    const entry = model.journal.poison.find(digest);
    deps.metrics.poisonFound.inc({ kind: 'crashes' });
    logger.warn({ event: 'poison_request', id, digest, cause: reason.reason, bodyBytes: request.bodyBytes }, `a request was in flight at two ${reason.reason} restarts: not sent again`);
    responder.refuse('poison_request', entry ? describePoison(entry) : reason.message);
    return undefined;
  }
  // A stop is no restart: there is nothing to wait for.
  if (reason.reason === 'stop' || responder.contentSent || replays > config.replay.maxPerRequest) {
    answerLost(responder, reason, supervisor);
    return undefined;
  }
  // Not AbortSignal.any with AbortSignal.timeout: on Node 20 the timeout signal can be collected
  // before it fires when only the combined signal is held.
  const giveUp = new AbortController();
  const onGone = () => giveUp.abort();
  clientGone.addEventListener('abort', onGone, { once: true });
  const timer = setTimeout(onGone, Math.max(0, deadlineAt - Date.now()));
  const waited = await waitToReplay(verdict, responder, model, giveUp.signal).finally(() => {
    clearTimeout(timer);
    clientGone.removeEventListener('abort', onGone);
  });
  const refuse = (code: PublicErrorCode, message: string, retryAfterSeconds?: number) => {
    waited?.leave();
    responder.refuse(code, message, retryAfterSeconds);
    return undefined;
  };
  if (clientGone.aborted) {
    waited?.leave();
    return undefined;
  }
  if (!waited && (supervisor.state === 'fatal' || supervisor.state === 'stopped')) {
    answerLost(responder, reason, supervisor);
    return undefined;
  }
  if (!waited || Date.now() >= deadlineAt) {
    return refuse('upstream_timeout', `the model server was restarted and did not come back within this request's deadline (${config.inference.deadlineMs} ms); not sent again`);
  }
  const permit = model.inferenceBreaker.tryAcquire();
  if (!permit) return refuse('breaker_open', 'the model server is failing again after its restart (the inference breaker is open); retry shortly', 5);
  deps.metrics.replays.inc();
  logger.info({ event: 'replay', id, digest, replay: replays, cause: reason.reason }, `replaying a request the client had seen nothing of (restart: ${reason.reason})`);
  responder.replayed(replays);
  return { serving: waited.serving, permit, leave: waited.leave, alone: verdict === 'suspect' };
}

/**
 * Waits for the next ready model server, keeping a streaming client's connection alive meanwhile.
 * A suspect (in flight at the crash) first waits its turn in the replay lane, then holds the lane
 * and the server (`journal.alone`: other attempts wait, bounded) while it runs; `leave` gives both
 * back. So a second crash names one request, never a bystander.
 */
async function waitToReplay(
  verdict: 'innocent' | 'suspect',
  responder: Responder,
  { supervisor, journal }: ServedModel,
  signal: AbortSignal,
): Promise<{ serving: Serving; leave: () => void } | undefined> {
  const keepAlive = setInterval(() => responder.keepAlive('waiting for the model server to restart'), KEEPALIVE_EVERY_MS);
  let leave: (() => void) | undefined;
  try {
    if (verdict === 'suspect') {
      // Held from the moment it queues for the lane, before the server is back: attempts woken by
      // its readiness wait too, and so do those released when the suspect before it leaves (held
      // only once in the lane, the hold passed from one suspect to the next a microtask late, and
      // the waiting attempts went in between: a poison request crashed the server beside them).
      const release = journal.alone.hold();
      leave = release;
      const leaveLane = await journal.replayLane.enter(signal);
      leave = () => {
        release();
        leaveLane();
      };
    } else leave = () => undefined;
    return { serving: await supervisor.whenServing(signal), leave };
  } catch {
    leave?.();
    return undefined;
  } finally {
    clearInterval(keepAlive);
  }
}
