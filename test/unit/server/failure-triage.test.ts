import { describe, expect, it } from 'vitest';
import { Journal } from '../../../src/journal/index.js';
import { FailureTriage } from '../../../src/server/failure-triage.js';
import type { Serving } from '../../../src/supervisor/index.js';
import { manualClock } from '../../support/clock.js';

const serving = (baseUrl = 'http://127.0.0.1:1'): Serving => ({ baseUrl, lost: new AbortController().signal });

function setup(healthy: boolean) {
  const clock = manualClock();
  const journal = new Journal({ ttlMs: 60_000, maxEntries: 10 }, clock.now);
  const probes: string[] = [];
  let answer!: (ok: boolean) => void;
  const triage = new FailureTriage(journal, (s) => {
    probes.push(s.baseUrl);
    return new Promise<boolean>((resolve) => (answer = resolve));
  });
  return { clock, journal, probes, triage, settle: () => answer(healthy) };
}

describe('failure triage: whose failure a failed call is', () => {
  it('another request\'s progress within the last second makes it the request\'s, with no canary', async () => {
    const { clock, journal, probes, triage } = setup(true);
    const entry = journal.begin({ id: 'other', digest: 'o', bodyBytes: 1 });
    entry.progress();
    clock.advance(1_000);
    expect(await triage.blame(serving())).toBe('request');
    expect(probes).toEqual([]);
  });

  it('otherwise one canary answers every failure meanwhile and for a second after: passing, the request\'s; failing, the server\'s', async () => {
    const healthy = setup(true);
    const verdicts = [healthy.triage.blame(serving()), healthy.triage.blame(serving()), healthy.triage.blame(serving())];
    healthy.settle();
    expect(await Promise.all(verdicts)).toEqual(['request', 'request', 'request']);
    healthy.clock.advance(1_000);
    expect(await healthy.triage.blame(serving())).toBe('request');
    expect(healthy.probes).toHaveLength(1);
    // A second on, the verdict is stale: a new canary.
    healthy.clock.advance(1);
    const later = healthy.triage.blame(serving());
    healthy.settle();
    expect(await later).toBe('request');
    expect(healthy.probes).toHaveLength(2);

    const failing = setup(false);
    const verdict = failing.triage.blame(serving());
    failing.settle();
    expect(await verdict).toBe('server');
  });

  it('a verdict on one model server says nothing of its successor', async () => {
    const { probes, triage, settle } = setup(true);
    const first = triage.blame(serving('http://127.0.0.1:1'));
    settle();
    await first;
    const second = triage.blame(serving('http://127.0.0.1:2'));
    settle();
    await second;
    expect(probes).toEqual(['http://127.0.0.1:1', 'http://127.0.0.1:2']);
  });
});
