import { describe, expect, it } from 'vitest';
import { Journal } from '../../../src/journal/index.js';
import { FailureTriage } from '../../../src/server/failure-triage.js';
import type { Serving } from '../../../src/supervisor/index.js';
import { manualClock } from '../../support/clock.js';

const serving = (baseUrl = 'http://127.0.0.1:1'): Serving => ({ baseUrl, lost: new AbortController().signal });

function setup() {
  const clock = manualClock();
  const journal = new Journal({ ttlMs: 60_000, maxEntries: 10 }, clock.now);
  const probes: string[] = [];
  const answers: Array<(ok: boolean) => void> = [];
  const triage = new FailureTriage(journal, (s) => {
    probes.push(s.baseUrl);
    return new Promise<boolean>((resolve) => answers.push(resolve));
  });
  /** Answers the last canary sent. */
  const settle = (healthy: boolean) => answers.at(-1)!(healthy);
  return { clock, probes, triage, settle };
}

describe('failure triage: whose failure a failed call is', () => {
  it('a canary that passes after the request was sent makes it the request\'s; one canary answers every request sent before it began', async () => {
    const { clock, probes, triage, settle } = setup();
    const sentAt = clock.now();
    clock.advance(100);
    const verdicts = [triage.blame(serving(), sentAt), triage.blame(serving(), sentAt), triage.blame(serving(), sentAt - 50)];
    settle(true);
    expect(await Promise.all(verdicts)).toEqual(['request', 'request', 'request']);
    expect(probes).toHaveLength(1);
    // A request sent after that canary began is not vouched for by it: a canary of its own.
    clock.advance(1);
    const later = triage.blame(serving(), clock.now());
    settle(true);
    expect(await later).toBe('request');
    expect(probes).toHaveLength(2);
  });

  it('a failing canary makes it the server\'s, and answers every failure for a second after it', async () => {
    const { clock, probes, triage, settle } = setup();
    const first = triage.blame(serving(), clock.now());
    settle(false);
    expect(await first).toBe('server');
    clock.advance(1_000);
    expect(await triage.blame(serving(), clock.now())).toBe('server');
    expect(probes).toHaveLength(1);
    clock.advance(1);
    const stale = triage.blame(serving(), clock.now());
    settle(true);
    expect(await stale).toBe('request');
    expect(probes).toHaveLength(2);
  });

  it('a verdict on one model server says nothing of its successor', async () => {
    const { clock, probes, triage, settle } = setup();
    const sentAt = clock.now();
    const first = triage.blame(serving('http://127.0.0.1:1'), sentAt);
    settle(true);
    await first;
    const second = triage.blame(serving('http://127.0.0.1:2'), sentAt);
    settle(true);
    await second;
    expect(probes).toEqual(['http://127.0.0.1:1', 'http://127.0.0.1:2']);
  });
});
