// Bulk reads ride Graph's resource-unit budget (issue 15): the owners of many apps are read in $batch requests
// paced by what Graph says of the budget (x-ms-throttle-limit-percentage), not in a burst that meets it. The
// product's clock is the cloud's, moved forward when the product waits, so the budget's window slides in no time.
import { afterAll, describe, expect, it } from 'vitest';
import {
  emptyReadWindow,
  learnReadBudget,
  nextReadAt,
  recordReads,
  RU_WINDOW_MS,
} from '../../src/azure/graph-budget.js';
import { GraphApi } from '../../src/azure/graph.js';
import { createCredential } from '../../src/azure/identity.js';
import { loadSettings } from '../../src/settings.js';
import type { Clock } from '../../src/util/clock.js';
import { startSimCloud } from '../sim/cloud.js';
import { graphControl } from '../sim/graph.js';

const cloud = await startSimCloud({ graphThrottling: true, throttlingTier: 'S' });
afterAll(() => cloud.stop());
Object.assign(process.env, cloud.env);
const settings = loadSettings(cloud.env, { requireKeyVault: true });
const control = graphControl(cloud);

/** The cloud's clock for the product: waiting moves the whole cloud forward (no real time passes). */
const jumpingClock = (): Clock => ({
  now: () => cloud.clock.now(),
  sleep: async (ms) => cloud.clock.advance(ms),
});

describe('the resource-unit window of bulk reads (pure)', () => {
  it('reads freely until Graph says how much is used, then keeps the window under a margin of the share', () => {
    let w = emptyReadWindow();
    for (let t = 0; t < 10; t++) w = recordReads(w, t, 100);
    expect(nextReadAt(w, 10, 100)).toBe(10); // nothing learned: no pacing
    // 1,000 units spent and Graph says 0.8 used: our share is at most 1,250; keep to 0.8 of it (1,000).
    w = learnReadBudget(w, 10, 0.8, 20);
    expect(w.allowance?.units).toBe(1000);
    expect(nextReadAt(w, 10, 100)).toBe(RU_WINDOW_MS); // the first 100 leave at 10 s
    expect(nextReadAt(w, 10, 250)).toBe(2 + RU_WINDOW_MS);
    expect(nextReadAt(w, RU_WINDOW_MS + 5, 100)).toBe(RU_WINDOW_MS + 5);
  });

  it('a 429 of the budget (fraction 1) teaches what the window held; never less than one read', () => {
    const w = learnReadBudget(recordReads(emptyReadWindow(), 0, 5), 1, 1, 20);
    expect(w.allowance?.units).toBe(20);
    expect(nextReadAt(w, 2, 20)).toBe(RU_WINDOW_MS);
  });

  it('forgets the lesson two windows after it last held a read back', () => {
    const w = learnReadBudget(recordReads(emptyReadWindow(), 0, 1000), 0, 0.9, 20);
    expect(nextReadAt(w, 1, 1000)).toBeGreaterThan(1);
    expect(nextReadAt(w, 2 * RU_WINDOW_MS + 1, 10_000)).toBe(2 * RU_WINDOW_MS + 1);
  });
});

describe('ownersOf on a small tenant’s budget', () => {
  it('reads the owners of 1,500 apps against 600 resource units per 10 s without a burst of 429s', async () => {
    control.throttle.reset();
    control.throttle.setBudgets({ resourceUnits: { S: 600 } });
    const owner = cloud.tenant.addUser({ displayName: 'owner', mail: 'owner@contoso.com' });
    const apps = Array.from({ length: 1500 }, (_, i) =>
      cloud.tenant.addApplication({ displayName: `app ${i}`, ownerIds: [cloud.rotator.id, owner.id] }),
    );
    const graph = new GraphApi(createCredential(settings), settings, { clock: jumpingClock() });
    const owners = await graph.ownersOf(apps.map((a) => a.id));
    // Every app's owners were read (a lookup that kept failing would leave an empty list).
    expect([...owners.values()].filter((o) => o.length === 2)).toHaveLength(apps.length);
    // Unpaced, the reads in flight meet the budget at every refill (92 times here before the pacing). Paced: Graph
    // says "over 0.8 used" at 480 units, with at most 80 more in flight, and the window is then kept under 0.8 of
    // the share it implies.
    expect(control.throttle.counters.throttled).toBe(0);
  });
});
