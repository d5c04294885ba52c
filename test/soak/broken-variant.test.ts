// A deliberately broken product (superseded secrets retired at once: RETIRE_AFTER_DAYS effectively 0, as a bug in
// the settings would do, through the soak's settings hook) is caught by the soak, with the day, the app and the
// invariant named. Its own file: one soak per process (see soak.ts).
import { describe, expect, inject, it } from 'vitest';
import { describeViolation } from './invariants.js';
import { runSoak } from './soak.js';

describe('a broken variant', () => {
  // Rotator-managed apps already due (rotator-due: their secret expires in 5-20 days), so every one is rotated on day 0
  // and its superseded rotator-made secret is what the broken product removes at once; the next day's run finds the
  // ones a fault held up. The violation names the day, the app (one of these) and the invariant.
  it(
    'a product that retires superseded secrets at once is caught: day, app and invariant named',
    { timeout: 600_000 },
    async () => {
      const { summary, violations } = await runSoak({
        days: 2,
        apps: 4,
        seed: 5,
        shapes: { 'rotator-due': 1 },
        crashes: false,
        storage: inject('azuriteConnectionString'),
        breakSettings: (s) => ({ ...s, retireAfterDays: 0 }),
      });
      console.log(`soak (broken: RETIRE_AFTER_DAYS 0): ${JSON.stringify(summary.firstViolations)}`);
      // The runs did rotate (a run that fails before any change retires nothing, and would prove nothing).
      expect(summary.rotations).toBeGreaterThan(0);
      const early = violations.filter((v) => v.invariant === 'retired-too-early');
      expect(early.length).toBeGreaterThan(0);
      expect(describeViolation(early[0]!)).toMatch(
        /^day [01], app "\w+ \w+ rotator-due [0-9a-f]{4}" \([0-9a-f-]{36}\): retired-too-early: credential [0-9a-f-]{36} was removed 0 days after it was superseded \(RETIRE_AFTER_DAYS=7\)$/,
      );
    },
  );
});
