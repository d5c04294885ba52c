// The bench's yardstick (bench/model.ts): a pure function of what a run consumed, checked on a table of cases.
import { describe, expect, it } from 'vitest';
import {
  boundBy,
  budgetDelaySeconds,
  cpuFloorSeconds,
  graphUsage,
  lowerBound,
  simulatorBudgets,
  slidingWindowDelaySeconds,
  type GraphUsage,
  type LowerBoundTerm,
} from '../../bench/model.js';

const latency = { graph: 50, entra: 30, mi: 30, keyvault: 30, acs: 50 };
const chain = (50 + 2 * 30 + 30) / 1000;
const graph = 0.05;
const usage = (writes: number, resourceUnits = writes, tenantWrites = writes, removals = 0): GraphUsage => ({
  writes,
  resourceUnits,
  tenantWrites,
  removals,
});

describe('simulator budgets', () => {
  it('are the documented Graph identity budgets as sliding windows', () => {
    expect(simulatorBudgets('S')).toEqual({
      resourceUnits: { limit: 3_500, windowSeconds: 10 },
      appTenantWrites: { limit: 3_000, windowSeconds: 150 },
      tenantWrites: { limit: 18_000, windowSeconds: 300 },
    });
    expect(simulatorBudgets('L').resourceUnits.limit).toBe(8_000);
  });
});

describe('lower bound', () => {
  const cases: Array<{
    name: string;
    pages: number;
    used: GraphUsage;
    tier?: 'S' | 'L';
    seconds: number;
    binding: LowerBoundTerm;
  }> = [
    {
      name: '500 writes (10,000 apps, 5 % due) are never held back: 11 pages and one chain',
      pages: 11,
      used: usage(500, 1_536),
      seconds: 11 * 0.05 + chain,
      binding: 'listing',
    },
    {
      name: 'exactly 3,000 writes still pass at once',
      pages: 1,
      used: usage(3_000),
      seconds: 0.05 + chain,
      binding: 'listing',
    },
    {
      name: '5,000 writes wait for 2,000 of them at 20 a second',
      pages: 6,
      used: usage(5_000),
      seconds: chain + 2_000 / 20,
      binding: 'appTenantWrites',
    },
    {
      name: '20,000 writes: the pair budget binds before the tenant one',
      pages: 6,
      used: usage(20_000, 20_000),
      seconds: chain + 17_000 / 20,
      binding: 'appTenantWrites',
    },
    {
      name: 'other callers’ writes fill the tenant budget (60 a second beyond 18,000)',
      pages: 1,
      used: usage(100, 100, 24_000),
      seconds: chain + 6_000 / 60,
      binding: 'tenantWrites',
    },
    {
      name: 'resource units beyond the S tier’s 3,500 per 10 s go at 350 a second, then one round-trip',
      pages: 1,
      used: usage(1_000, 7_000),
      tier: 'S',
      seconds: graph + 3_500 / 350,
      binding: 'resourceUnits',
    },
    {
      name: 'an emergency with revocations: the last write may be a removal, so only its round-trip follows',
      pages: 6,
      used: usage(10_000, 20_000, 10_000, 5_000),
      tier: 'S',
      seconds: graph + 7_000 / 20,
      binding: 'appTenantWrites',
    },
    {
      name: 'the same resource units fit the L tier',
      pages: 1,
      used: usage(1_000, 7_000),
      tier: 'L',
      seconds: 0.05 + chain,
      binding: 'listing',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const lb = lowerBound({
        pages: c.pages,
        latency,
        entraRequestsPerProof: 2,
        used: c.used,
        budgets: simulatorBudgets(c.tier ?? 'L'),
      });
      expect(lb.chainSeconds).toBeCloseTo(chain, 9);
      expect(lb.seconds).toBeCloseTo(c.seconds, 9);
      expect(lb.binding).toBe(c.binding);
      expect(lb.seconds).toBe(Math.max(...Object.values(lb.terms)));
    });
  }

  it('never charges more than the sliding window really holds a run back', () => {
    // The window admits `limit` units, then the next `limit` a whole window later: unit n waits
    // floor((n - 1) / limit) windows.
    const budget = { limit: 3_000, windowSeconds: 150 };
    for (const used of [1, 2_999, 3_000, 3_001, 4_500, 6_000, 6_001, 29_999, 30_000]) {
      const windowWait = Math.floor((used - 1) / budget.limit) * budget.windowSeconds;
      expect(budgetDelaySeconds(used, budget)).toBeLessThanOrEqual(windowWait);
      // The exact form is that step function: tighter than the average-rate one, never above it.
      expect(slidingWindowDelaySeconds(used, budget)).toBe(windowWait);
    }
  });

  it('an emergency of 5,000 apps (10,000 writes) needs 450 s of write windows at the least, not 350 s', () => {
    const pair = simulatorBudgets('S').appTenantWrites;
    expect(budgetDelaySeconds(10_000, pair)).toBe(350);
    expect(slidingWindowDelaySeconds(10_000, pair)).toBe(450);
    expect(slidingWindowDelaySeconds(0, pair)).toBe(0);
  });
});

describe('CPU floor', () => {
  it('is both processes’ CPU seconds spread over the cores, or one event loop’s, and names the CPU when above the bound', () => {
    expect(
      cpuFloorSeconds(
        [
          { total: 3, mainThread: 1.5 },
          { total: 1, mainThread: 1 },
        ],
        2,
      ),
    ).toBe(2);
    // One event loop busy for 2.5 s cannot finish in less, however many cores share the rest.
    expect(
      cpuFloorSeconds(
        [
          { total: 3, mainThread: 2.5 },
          { total: 1, mainThread: 1 },
        ],
        2,
      ),
    ).toBe(2.5);
    const lb = lowerBound({
      pages: 11,
      latency,
      entraRequestsPerProof: 2,
      used: usage(500),
      budgets: simulatorBudgets('L'),
    });
    expect(boundBy(lb, 0.5)).toBe('listing');
    expect(boundBy(lb, 2)).toBe('cpu');
  });
});

describe('graph usage', () => {
  it('counts what the budgets admitted: no 429s, no 401s, no batch envelopes, one unit per request', () => {
    expect(
      graphUsage({
        'graph.listApplications': { '200': 11 },
        'graph.batch': { '200': 25 },
        'graph.getOwners': { '200': 500 },
        'graph.addPassword': { '200': 480, '429': 20, '401': 1 },
        'graph.removePassword': { '204': 10, '404': 2 },
      }),
    ).toEqual({
      resourceUnits: 11 + 500 + 480 + 12,
      writes: 480 + 12,
      tenantWrites: 480 + 12,
      removals: 12,
    });
  });
});
