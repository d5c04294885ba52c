// The simulated year, small: 20 days over 40 apps with every kind of fault, in the normal suite (npm run soak runs
// the full year). The deliberately broken product is in broken-variant.test.ts (one soak per process).
import { describe, expect, inject, it } from 'vitest';
import { describeViolation, type Violation } from './invariants.js';
import { runSoak } from './soak.js';

/**
 * Violations the soak found in the product that are still open (see docs/reliability.md, "The simulated year:
 * figures"). Each is matched exactly; anything else fails the test. Remove an entry once the product is fixed.
 */
const OPEN_FINDINGS: Array<{ invariant: Violation['invariant']; detail: RegExp; why: string }> = [
  {
    invariant: 'stuck-app-reported-failed',
    detail:
      /^the app cannot be rotated and its secret (expires in [\d.]+ days|has expired), but the run did not report it failed$/,
    why: "two Graph 429 bursts in a row outlasted the listing's 6 attempts: the whole run failed (rotation-run-failed) and reported no app. Pages are tried 12 times since df7c4da and it has not been seen since; kept until 300-app years confirm",
  },
];
const isOpenFinding = (v: Violation) =>
  OPEN_FINDINGS.some((f) => f.invariant === v.invariant && f.detail.test(v.detail));

describe('a simulated month', () => {
  it(
    '20 days, 40 apps, seeded faults: no invariant is violated (beyond the open findings)',
    { timeout: 900_000 },
    async () => {
      const { summary, violations } = await runSoak({
        days: 20,
        apps: 40,
        seed: 17,
        storage: inject('azuriteConnectionString'),
      });
      console.log(`soak: ${JSON.stringify(summary)}`);
      expect(violations.filter((v) => !isOpenFinding(v)).map(describeViolation)).toEqual([]);
      expect(summary.rotations).toBeGreaterThan(3);
      expect(summary.faults.total).toBeGreaterThan(20);
      expect(summary.invariantChecks).toBeGreaterThan(1000);
    },
  );
});
