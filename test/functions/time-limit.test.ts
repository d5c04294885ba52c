// POST /api/rotate must answer within the front end's 230 s: the rotation budget plus what the emails may wait.
import { describe, expect, it } from 'vitest';
import { mailWaitsAfter } from '../../src/functions/handlers/rotateHttp.js';

describe('HTTP rotate time limit', () => {
  it('the budget plus the mail waits stay under 230 s for every allowed HTTP_TIME_BUDGET_SECONDS (0-220)', () => {
    for (let budget = 0; budget <= 220; budget++) {
      const { maxWaitMs, pollTimeoutMs } = mailWaitsAfter(budget);
      expect(budget * 1000 + maxWaitMs + pollTimeoutMs).toBeLessThanOrEqual(225_000);
      expect(maxWaitMs).toBeGreaterThan(0);
    }
  });

  it('the default budget of 200 s leaves the emails 25 s (it was 40 s: 240 s in all)', () => {
    const { maxWaitMs, pollTimeoutMs } = mailWaitsAfter(200);
    expect(maxWaitMs + pollTimeoutMs).toBe(25_000);
  });
});
