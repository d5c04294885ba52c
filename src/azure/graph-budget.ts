// Graph's throttling budget as this process sees it, shared by every GraphApi of the process that talks to the same
// Graph as the same caller on the same clock: a run's engine and, in a Functions worker, every queue invocation at
// once. Graph's identity budgets are sliding windows (writes: 3,000 per app+tenant pair per 150 s, 18,000 per
// tenant per 300 s; learn.microsoft.com/graph/throttling-limits); a refused request consumes nothing and its
// Retry-After is exact. So:
//   - a 429 pauses every call of the process until its Retry-After (no 429 storms), and tells the listeners (the
//     engine's adaptive limiter shrinks);
//   - a 429 on a write budget teaches how many writes the window holds for this process (the writes it saw admitted
//     in the last window); later writes then start only when one of those leaves the window, so a long emergency
//     run rides the window's refill instead of meeting a 429 at every boundary. Several worker processes each
//     learn their own share the same way. The lesson is forgotten two windows after it last held a write back
//     (other callers may have stopped), at the cost of one more 429 to learn it again;
//   - bulk reads (the $batch lookups: owners, service principals) are paced on the resource-unit budget (per pair
//     per 10 s, by tenant size): Graph says in `x-ms-throttle-limit-percentage` when a caller has used more than
//     0.8 of it, so the units this process spent in the window ÷ that fraction is (at most) the process's share of
//     the budget; later batches start only while what the window holds stays under a margin of it. A 429 on the
//     budget teaches the same from what the window held. So the owners of 5,000 rotated apps are read at the
//     budget's pace instead of meeting it in a burst of 429s;
//   - in a queue worker, writes also take a token of the write budget the workers share (write-ledger.ts), so that
//     several processes do not each meet the window at every boundary; a write 429 pauses them all.
import { errorInfo } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { SharedWriteTokens } from './write-ledger.js';

/** The documented windows of Graph's write budgets, by the `x-ms-throttle-scope` prefix of a 429. */
const WRITE_WINDOWS_MS: ReadonlyArray<[prefix: string, windowMs: number]> = [
  ['Tenant_Application/Write', 150_000],
  ['Tenant/Write', 300_000],
];

/** Writes this process had admitted recently, and what it learned of the budget from a 429 (pure). */
export interface WriteWindow {
  /** When each admitted write was answered, oldest first (an upper bound of when Graph counted it). */
  admitted: number[];
  inFlight: number;
  /** Learned from a 429: writes the window holds for us, and its length. Undefined: not throttled yet. */
  learned?: { limit: number; windowMs: number; at: number };
}

export const emptyWriteWindow = (): WriteWindow => ({ admitted: [], inFlight: 0 });

const inWindow = (w: WriteWindow, now: number, windowMs: number) =>
  w.admitted.filter((t) => t + windowMs > now);

/** When the next write may start: now, or when the oldest admitted write that holds its slot leaves the window. */
export function nextWriteAt(w: WriteWindow, now: number): number {
  const l = w.learned;
  if (!l || now - l.at > 2 * l.windowMs) return now;
  const held = inWindow(w, now, l.windowMs);
  const over = held.length + w.inFlight - l.limit;
  if (over < 0) return now;
  // Writes in flight may be admitted too: wait for as many slots as they and this one need.
  // (When the writes in flight alone fill it, look again once some of them are answered.)
  return over < held.length ? held[over]! + l.windowMs : now + 100;
}

/**
 * A write budget said 429: the window holds what we saw admitted in it (at least one). Its length is the documented
 * one, or shorter when Retry-After says the oldest write we know of leaves it sooner (a budget set differently).
 */
export function learnFromWrite429(
  w: WriteWindow,
  now: number,
  documentedWindowMs: number,
  retryAfterMs: number,
): WriteWindow {
  const held = inWindow(w, now, documentedWindowMs);
  const oldest = held[0];
  const windowMs =
    oldest === undefined
      ? documentedWindowMs
      : Math.min(documentedWindowMs, Math.max(1_000, now + retryAfterMs - oldest));
  const limit = Math.max(1, inWindow(w, now, windowMs).length);
  return { ...w, admitted: held, learned: { limit, windowMs, at: now } };
}

/** The lesson held a write back at `now`: it is still what keeps us from 429s, so it is kept two windows more. */
export const heldBack = (w: WriteWindow, now: number): WriteWindow =>
  w.learned ? { ...w, learned: { ...w.learned, at: now } } : w;

/** A write was answered (admitted): it holds a slot for a window. Old entries are dropped. */
export function recordWrite(w: WriteWindow, now: number): WriteWindow {
  const keep = Math.max(w.learned?.windowMs ?? 0, 300_000);
  const old = w.admitted[0] !== undefined && w.admitted[0] + keep <= now;
  return { ...w, admitted: [...(old ? inWindow(w, now, keep) : w.admitted), now] };
}

/** The resource-unit window of the pair (documented: per app per tenant per 10 s). */
export const RU_WINDOW_MS = 10_000;
/** Of the share learned, what bulk reads may use: room for the header's rounding and for the other requests. */
const RU_MARGIN = 0.8;

/** Resource units this process's bulk reads spent recently, and the share of the budget it learned (pure). */
export interface ReadWindow {
  /** Units sent (a reservation: counted when sent, at least one per request), oldest first. */
  spent: Array<{ at: number; units: number }>;
  /** Units the window may hold for our bulk reads; undefined: Graph has not said yet. */
  allowance?: { units: number; at: number };
}

export const emptyReadWindow = (): ReadWindow => ({ spent: [] });

const unitsIn = (w: ReadWindow, now: number) =>
  w.spent.reduce((n, s) => (s.at + RU_WINDOW_MS > now ? n + s.units : n), 0);

/** Units were sent now: they hold the window for 10 s. Old entries are dropped. */
export function recordReads(w: ReadWindow, now: number, units: number): ReadWindow {
  return { ...w, spent: [...w.spent.filter((s) => s.at + RU_WINDOW_MS > now), { at: now, units }] };
}

/**
 * Graph said how much of the budget is used: `usedFraction` (x-ms-throttle-limit-percentage, or 1 on a 429 of the
 * budget). What we spent in the window ÷ that fraction is our share at most (other requests count in it too).
 */
export function learnReadBudget(
  w: ReadWindow,
  now: number,
  usedFraction: number,
  minUnits: number,
): ReadWindow {
  if (!(usedFraction > 0)) return w;
  const share = unitsIn(w, now) / Math.max(usedFraction, 0.8);
  const units = Math.max(minUnits, Math.floor(share * RU_MARGIN));
  // The smaller lesson wins while the last one is fresh: a fraction read a moment later may still be rising.
  const last = w.allowance;
  const keep = last && now - last.at < RU_WINDOW_MS && last.units < units;
  return { ...w, allowance: keep ? { ...last, at: now } : { units, at: now } };
}

/** When `units` more may be sent: now, or when enough of what the window holds has left it. */
export function nextReadAt(w: ReadWindow, now: number, units: number): number {
  const a = w.allowance;
  if (!a || now - a.at > 2 * RU_WINDOW_MS) return now;
  let held = unitsIn(w, now);
  if (held + units <= a.units) return now;
  for (const s of w.spent) {
    if (s.at + RU_WINDOW_MS <= now) continue;
    held -= s.units;
    if (held + units <= a.units) return s.at + RU_WINDOW_MS;
  }
  return now + RU_WINDOW_MS; // more than the allowance at once: wait for an empty window
}

/** The lesson held a read back: kept two windows more. */
const readHeldBack = (w: ReadWindow, now: number): ReadWindow =>
  w.allowance ? { ...w, allowance: { ...w.allowance, at: now } } : w;

export type ThrottleListener = (retryAfterMs: number) => void;

export class GraphBudget {
  pausedUntil = 0;
  private writes = emptyWriteWindow();
  private reads = emptyReadWindow();
  private readonly listeners = new Set<ThrottleListener>();
  private shared?: SharedWriteTokens;

  constructor(
    private readonly clock: Clock,
    /** The Graph endpoint and tenant this budget is of. */
    readonly key = '',
  ) {}

  /** The queue workers' shared write budget: attached once per process (the first worker invocation). */
  shareWrites(tokens: SharedWriteTokens): void {
    this.shared ??= tokens;
  }

  get writesShared(): SharedWriteTokens | undefined {
    return this.shared;
  }

  /** Told of every 429 (the engine's limiter listens during a run); returns the unsubscribe. */
  onThrottled(listener: ThrottleListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Waits out the shared pause. */
  async ready(): Promise<void> {
    const wait = this.pausedUntil - this.clock.now().getTime();
    if (wait > 0) await this.clock.sleep(wait);
  }

  /** A 429 (or 503) asked every call to wait `ms`; `scope` is its x-ms-throttle-scope when it names one. */
  throttled(ms: number, opts: { status: number; scope?: string }): void {
    const now = this.clock.now().getTime();
    this.pausedUntil = Math.max(this.pausedUntil, now + ms);
    if (opts.status !== 429) return;
    const window = WRITE_WINDOWS_MS.find(([prefix]) => opts.scope?.startsWith(prefix));
    if (window) this.writes = learnFromWrite429(this.writes, now, window[1], ms);
    if (window) this.shared?.refused(now + ms);
    for (const l of this.listeners) l(ms);
  }

  /** Waits until the resource-unit window has room for a bulk read of `units`, then counts them as spent. */
  async bulkRead(units: number): Promise<void> {
    for (;;) {
      const now = this.clock.now().getTime();
      const at = nextReadAt(this.reads, now, units);
      if (at <= now) break;
      this.reads = readHeldBack(this.reads, now);
      await this.clock.sleep(at - now);
    }
    this.reads = recordReads(this.reads, this.clock.now().getTime(), units);
  }

  /**
   * What Graph said of the resource-unit budget in a bulk read's answers: the highest used fraction
   * (x-ms-throttle-limit-percentage; 1 when the budget refused a request). `minUnits`: the least a read needs.
   */
  readBudgetSaid(usedFraction: number, minUnits: number): void {
    this.reads = learnReadBudget(this.reads, this.clock.now().getTime(), usedFraction, minUnits);
  }

  /** Runs a write when the learned window has room for it; an admitted write takes a slot. */
  async write<T>(send: () => Promise<T>): Promise<T> {
    for (;;) {
      const now = this.clock.now().getTime();
      const at = nextWriteAt(this.writes, now);
      if (at <= now) break;
      this.writes = heldBack(this.writes, now);
      await this.clock.sleep(at - now);
    }
    if (this.shared) {
      // A token is sent at once: a pause is waited out before taking one, not after.
      await this.ready();
      await this.shared.take();
    }
    this.writes.inFlight++;
    let admitted = true;
    try {
      return await send();
    } catch (err) {
      // Refused by a budget (429) or before it (401), or no answer at all: no slot taken that we know of.
      const { status } = errorInfo(err);
      admitted = status !== undefined && status !== 429 && status !== 401;
      throw err;
    } finally {
      this.writes.inFlight--;
      if (admitted) this.writes = recordWrite(this.writes, this.clock.now().getTime());
    }
  }
}

// One budget per clock, Graph endpoint and caller: tests that move a simulated clock never share a pause with
// real-time ones.
const budgets = new WeakMap<Clock, Map<string, GraphBudget>>();

export function sharedGraphBudget(clock: Clock, key: string): GraphBudget {
  let byKey = budgets.get(clock);
  if (!byKey) budgets.set(clock, (byKey = new Map()));
  let b = byKey.get(key);
  if (!b) byKey.set(key, (b = new GraphBudget(clock, key)));
  return b;
}
