// The simulated year, small: 20 days over 40 apps with every kind of fault, in the normal suite (npm run soak runs
// the full year). The deliberately broken product is in broken-variant.test.ts (one soak per process).
import { describe, expect, inject, it } from 'vitest';
import { describeViolation } from './invariants.js';
import { runSoak } from './soak.js';

describe('a simulated month', () => {
  it('20 days, 40 apps, seeded faults: no invariant is violated', { timeout: 900_000 }, async () => {
    const { summary, violations } = await runSoak({
      days: 20,
      apps: 40,
      seed: 17,
      storage: inject('azuriteConnectionString'),
    });
    console.log(`soak: ${JSON.stringify(summary)}`);
    expect(violations.map(describeViolation)).toEqual([]);
    expect(summary.rotations).toBeGreaterThan(3);
    expect(summary.faults.total).toBeGreaterThan(20);
    expect(summary.invariantChecks).toBeGreaterThan(1000);
  });
});
