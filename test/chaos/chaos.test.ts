// The chaos campaign's short fixed-seed run, as CI runs it (`npm run test:chaos`): four seeds,
// each 30 s of seeded faults and client behaviours against mlx-guard at its defaults. The
// longer run is `npm run chaos -- --minutes 60`.
import { describe, expect, it } from 'vitest';
import { formatReport, runCampaign } from './campaign.js';

/** Seeds whose 30 s schedules meet nine of the ten faults between them (planSchedule; a load failure at a relaunch is test/integration/supervisor's). */
const SEEDS = [3, 5, 33, 34];
const CHAOS_MS = 30_000;
/** The campaign, its recovery (a cool-down included) and its ending; a hung request would take its 10-minute deadline. */
const TIMEOUT_MS = 15 * 60_000;

describe('chaos: every invariant holds under seeded faults and client behaviours', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}`, async () => {
      const report = await runCampaign({ seed, durationMs: CHAOS_MS });
      console.log(formatReport(report));
      expect(report.requests).toBeGreaterThan(50);
      expect(Object.values(report.faults).reduce((sum, n) => sum + n.injected, 0), 'faults injected').toBeGreaterThan(0);
      expect(report.violations.map((v) => v.what), formatReport(report)).toEqual([]);
    }, TIMEOUT_MS);
  }
});
