// The shared write ledger's decision (pure) and a worker's token pool over it: properties over random reservations
// (never more than the budget in any window Graph could count them in, whatever the workers ask and when), and the
// pool's behaviour with several workers on one ledger, on a virtual clock.
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { TableWriteLedger } from '../../src/azure/write-ledger-table.js';
import { proxyAzurite } from './azurite-proxy.js';
import {
  emptyLedger,
  holdsUntil,
  ledgerTiming,
  pauseLedger,
  reserve,
  SharedWriteTokens,
  extraWanted,
  type LedgerState,
  type WriteBudgetShape,
  type WriteLedger,
} from '../../src/azure/write-ledger.js';
import { systemClock, type Clock } from '../../src/util/clock.js';

const budget: WriteBudgetShape = { limit: 120, windowMs: 60_000 };

describe('reserve (the ledger decision)', () => {
  it('grants what the window has room for, then says when the oldest block leaves it', () => {
    const t0 = 1_000_000;
    const a = reserve(emptyLedger(), t0, 100, budget);
    expect(a.granted).toBe(100);
    const b = reserve(a.state, t0 + 10, 50, budget);
    expect(b.granted).toBe(20);
    const c = reserve(b.state, t0 + 20, 5, budget);
    expect(c.granted).toBe(0);
    const leaves = holdsUntil(Math.floor(t0 / ledgerTiming(budget.windowMs).bucketMs), budget.windowMs);
    expect(c.retryAt).toBe(leaves);
    expect(leaves - t0).toBeGreaterThan(budget.windowMs); // held a little longer than Graph holds it
    expect(reserve(b.state, leaves, 200, budget).granted).toBe(120);
  });

  it('a pause (a write 429) grants nothing until it ends', () => {
    const s = pauseLedger(emptyLedger(), 5_000);
    expect(reserve(s, 4_000, 3, budget)).toMatchObject({ granted: 0, retryAt: 5_000 });
    expect(reserve(s, 5_000, 3, budget).granted).toBe(3);
    expect(pauseLedger(s, 4_000)).toBe(s); // an earlier end does not shorten it
  });

  const steps = fc.array(
    fc.record({
      dt: fc.integer({ min: 0, max: 20_000 }),
      want: fc.integer({ min: 0, max: 80 }),
      extra: fc.integer({ min: 0, max: 80 }),
    }),
    { maxLength: 200 },
  );
  const shapes = fc.record({
    limit: fc.integer({ min: 1, max: 3_000 }),
    windowMs: fc.integer({ min: 1_000, max: 300_000 }),
  });

  it('never grants more than the budget within a window plus the time a token may take to reach Graph', () => {
    fc.assert(
      fc.property(shapes, steps, (b, seq) => {
        const t = ledgerTiming(b.windowMs);
        // A token granted at g reaches Graph by g + useWithin + slack, and Graph holds it a window from then.
        const reach = t.holdMs - t.bucketMs - b.windowMs;
        let s: LedgerState = emptyLedger();
        let now = 1_700_000_000_000;
        const granted: Array<{ at: number; n: number }> = [];
        for (const { dt, want, extra } of seq) {
          now += dt;
          const r = reserve(s, now, want, b, extra);
          expect(r.granted).toBeGreaterThanOrEqual(0);
          expect(r.granted).toBeLessThanOrEqual(want + extra);
          if (r.granted > 0) {
            s = r.state;
            granted.push({ at: now, n: r.granted });
          } else expect(r.retryAt).toBeGreaterThan(now);
        }
        for (const g of granted) {
          const inSpan = granted.filter((h) => h.at >= g.at && h.at < g.at + b.windowMs + reach);
          expect(inSpan.reduce((n, h) => n + h.n, 0)).toBeLessThanOrEqual(b.limit);
        }
      }),
    );
  });

  it('is live: asking again at retryAt grants at least one, and the row stays small', () => {
    fc.assert(
      fc.property(shapes, steps, (b, seq) => {
        const t = ledgerTiming(b.windowMs);
        let s: LedgerState = emptyLedger();
        let now = 1_700_000_000_000;
        for (const { dt, want, extra } of seq) {
          now += dt;
          const r = reserve(s, now, Math.max(1, want), b, extra);
          if (r.granted > 0) s = r.state;
          else expect(reserve(s, r.retryAt, 1, b).granted).toBe(1);
          expect(s.grants.length).toBeLessThanOrEqual(Math.ceil(t.holdMs / t.bucketMs) + 1);
        }
      }),
    );
  });

  it('tokens for soon come only while the window is at most half full: near the budget none is wasted', () => {
    const a = reserve(emptyLedger(), 0, 2, budget, 20);
    expect(a.granted).toBe(22);
    const b = reserve(a.state, 0, 30, budget, 20);
    expect(b.granted).toBe(30); // 52 + 20 > 60: the extra would fill more than half
    expect(reserve(b.state, 0, 100, budget, 20).granted).toBe(68); // what is needed, up to the room
  });

  it('a worker asks for soon what it used recently beyond its waiting writes, at most the block', () => {
    expect(extraWanted(1, 0, 75)).toBe(0);
    expect(extraWanted(6, 2, 75)).toBe(0);
    expect(extraWanted(1, 40, 75)).toBe(39);
    expect(extraWanted(2, 200, 75)).toBe(73);
  });
});

/** A clock whose time moves only when every task is waiting: run() advances it to the next sleeper. */
class VirtualClock implements Clock {
  t = 1_700_000_000_000;
  private sleepers: Array<{ until: number; go: () => void }> = [];
  now = () => new Date(this.t);
  sleep = (ms: number) =>
    new Promise<void>((go) => {
      this.sleepers.push({ until: this.t + Math.max(0, ms), go });
    });
  /** Lets `done` settle, moving time forward whenever nothing else can run. */
  async run<T>(done: Promise<T>): Promise<T> {
    let settled = false;
    void done.finally(() => (settled = true));
    for (let i = 0; !settled; i++) {
      for (let k = 0; k < 20; k++) await Promise.resolve();
      await new Promise((r) => setImmediate(r));
      if (settled) break;
      this.sleepers.sort((a, b) => a.until - b.until);
      const next = this.sleepers.shift();
      if (!next) throw new Error('deadlock: nothing sleeps and nothing settles');
      this.t = Math.max(this.t, next.until);
      next.go();
      if (i > 1_000_000) throw new Error('runaway');
    }
    return done;
  }
}

/** The ledger in memory, as the table row would hold it, with each reservation's answer a little late. */
function memoryLedger(clock: VirtualClock, b: WriteBudgetShape, latencyMs = 5) {
  let state = emptyLedger();
  const calls = { reserve: 0 };
  const ledger: WriteLedger = {
    async reserve(need, extra, now) {
      calls.reserve++;
      await clock.sleep(latencyMs);
      const r = reserve(state, Math.max(now, clock.t), need, b, extra);
      if (r.granted > 0) state = r.state;
      return r;
    },
    async pause(until) {
      state = pauseLedger(state, until);
    },
  };
  return { ledger, calls };
}

describe('SharedWriteTokens (a worker over the ledger)', () => {
  it('four workers writing as fast as they may stay within the budget together, and all their writes go', async () => {
    const clock = new VirtualClock();
    const b = { limit: 40, windowMs: 10_000 };
    const { ledger } = memoryLedger(clock, b);
    const sent: number[] = [];
    const worker = async () => {
      const pool = new SharedWriteTokens(ledger, b, clock);
      // Six invocations, each writing 25 times with 30 ms between writes.
      await Promise.all(
        Array.from({ length: 6 }, async () => {
          for (let i = 0; i < 25; i++) {
            await pool.take();
            sent.push(clock.t);
            await clock.sleep(30);
          }
        }),
      );
    };
    await clock.run(Promise.all([worker(), worker(), worker(), worker()]));
    expect(sent).toHaveLength(600);
    const t = ledgerTiming(b.windowMs);
    const reach = t.holdMs - t.bucketMs - b.windowMs;
    // Graph's view: a write sent at s is counted by s + slack; any window of Graph's holds at most the budget.
    const slack = reach - t.useWithinMs;
    for (const s of sent) {
      const inWindow = sent.filter((x) => x >= s && x < s + b.windowMs + slack).length;
      expect(inWindow).toBeLessThanOrEqual(b.limit);
    }
    // 600 writes through 40 per window need at least 14 windows after the first.
    expect(sent[sent.length - 1]! - sent[0]!).toBeGreaterThanOrEqual(14 * b.windowMs);
  });

  it('a lone worker asks the ledger once per block, not once per write', async () => {
    const clock = new VirtualClock();
    const b = { limit: 3_000, windowMs: 150_000 };
    const { ledger, calls } = memoryLedger(clock, b);
    const pool = new SharedWriteTokens(ledger, b, clock);
    const writes = async () => {
      await Promise.all(
        Array.from({ length: 6 }, async () => {
          for (let i = 0; i < 50; i++) {
            await pool.take();
            await clock.sleep(20);
          }
        }),
      );
    };
    await clock.run(writes());
    expect(calls.reserve).toBeLessThan(300 / 4);
  });

  it('a worker whose ledger cannot be reached writes anyway (unmetered): rotations never fail for it', async () => {
    const clock = new VirtualClock();
    const broken: WriteLedger = {
      reserve: () => Promise.reject(new Error('storage down')),
      pause: () => Promise.reject(new Error('storage down')),
    };
    const pool = new SharedWriteTokens(broken, budget, clock);
    await clock.run(Promise.all([pool.take(), pool.take(), pool.take()]));
    pool.refused(clock.t + 1_000); // best effort: no unhandled rejection
    await clock.run(clock.sleep(2_000));
    // One reservation for the three writes (all waiting by its answer), one for the refused write's retry.
    expect(pool.stats.failures).toBe(2);
  });

  it('unused tokens are dropped after their time, so a block cannot be used late', async () => {
    const clock = new VirtualClock();
    const b = { limit: 400, windowMs: 10_000 };
    const { ledger, calls } = memoryLedger(clock, b);
    const pool = new SharedWriteTokens(ledger, b, clock);
    // Five writes in a burst (the pool learns a pace of five), then one write much later.
    await clock.run(Promise.all(Array.from({ length: 5 }, () => pool.take())));
    await clock.run(pool.take());
    const before = calls.reserve;
    await clock.run(clock.sleep(ledgerTiming(b.windowMs).useWithinMs + 1).then(() => pool.take()));
    expect(calls.reserve).toBe(before + 1);
  });
});

describe('SharedWriteTokens and refused writes', () => {
  it('the retry of a refused write takes a token held already, or one more from the ledger', async () => {
    const clock = new VirtualClock();
    const b = { limit: 400, windowMs: 10_000 };
    const { ledger, calls } = memoryLedger(clock, b);
    const pool = new SharedWriteTokens(ledger, b, clock);
    await clock.run(Promise.all(Array.from({ length: 5 }, () => pool.take())));
    await clock.run(pool.take()); // a pace of five: this block holds four more
    const before = calls.reserve;
    pool.refused(clock.t);
    await clock.run(clock.sleep(1));
    expect(calls.reserve).toBe(before); // paid from what it held
    await clock.run(clock.sleep(ledgerTiming(b.windowMs).useWithinMs));
    pool.refused(clock.t);
    await clock.run(clock.sleep(100));
    expect(calls.reserve).toBe(before + 1); // nothing held: one more from the ledger
  });
});

describe('TableWriteLedger (the row in Azurite)', () => {
  it('workers racing for the same row never get more than the budget between them (ETag), nor less', async () => {
    const storage = {
      kind: 'connectionString' as const,
      connectionString: inject('azuriteConnectionString'),
    };
    const b = { limit: 60, windowMs: 150_000 };
    const key = `https://graph.example ${randomUUID()}`;
    const ledgers = Array.from(
      { length: 4 },
      // A minute per reservation: on a loaded machine Azurite can take longer than the product's 10 s, after which
      // the product writes unmetered by design, which is not what this test counts.
      () => new TableWriteLedger(storage, { getToken: async () => null }, key, b, systemClock, 60_000),
    );
    const granted = await Promise.all(
      ledgers.map(async (l) => {
        let n = 0;
        for (let i = 0; i < 10; i++) n += (await l.reserve(5, 0, Date.now())).granted;
        return n;
      }),
    );
    expect(granted.reduce((a, n) => a + n, 0)).toBe(60);
    // A 429's pause reaches every worker.
    await ledgers[0]!.pause(Date.now() + 60_000);
    expect(await ledgers[3]!.reserve(1, 0, Date.now())).toMatchObject({ granted: 0 });
  });
});

/** Azurite's Table endpoint behind a proxy that, once `hang` is set, takes requests and never answers them. */
async function hangingTableEndpoint() {
  const state = { hang: false, hung: 0 };
  const proxy = await proxyAzurite('Table', () => {
    if (state.hang) state.hung++;
    return state.hang;
  });
  const storage = { kind: 'connectionString' as const, connectionString: proxy.connectionString };
  return { storage, state, close: proxy.close };
}

/** A ledger of its own row whose calls are bounded at 1 s. */
const boundedLedger = (storage: { kind: 'connectionString'; connectionString: string }) =>
  new TableWriteLedger(
    storage,
    { getToken: async () => null },
    `https://graph.example ${randomUUID()}`,
    { limit: 60, windowMs: 150_000 },
    systemClock,
    1_000,
  );

describe('TableWriteLedger when Storage stops answering', () => {
  // A hang here would be caught only by this test's own timeout: the ledger's bound is 1 s.
  it(
    'a pause (after a write 429) gives up like a reservation does, not holding the worker',
    { timeout: 60_000 },
    async () => {
      const endpoint = await hangingTableEndpoint();
      try {
        const ledger = boundedLedger(endpoint.storage);
        expect((await ledger.reserve(1, 0, Date.now())).granted).toBe(1); // the table exists, the row is written
        endpoint.state.hang = true;
        await expect(ledger.reserve(1, 0, Date.now())).rejects.toThrow();
        await expect(ledger.pause(Date.now() + 60_000)).rejects.toThrow();
        expect(endpoint.state.hung).toBeGreaterThanOrEqual(2);
      } finally {
        await endpoint.close();
      }
    },
  );

  it(
    'a worker whose first call finds Storage hung (the table not yet created) gives up too',
    { timeout: 60_000 },
    async () => {
      const endpoint = await hangingTableEndpoint();
      endpoint.state.hang = true;
      try {
        const ledger = boundedLedger(endpoint.storage);
        await expect(ledger.reserve(1, 0, Date.now())).rejects.toThrow();
        await expect(ledger.pause(Date.now() + 60_000)).rejects.toThrow();
      } finally {
        await endpoint.close();
      }
    },
  );
});
