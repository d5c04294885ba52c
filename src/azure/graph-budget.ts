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
//     (other callers may have stopped), at the cost of one more 429 to learn it again.
import { errorInfo } from '../errors.js';
import type { Clock } from '../util/clock.js';

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

export type ThrottleListener = (retryAfterMs: number) => void;

export class GraphBudget {
  pausedUntil = 0;
  private writes = emptyWriteWindow();
  private readonly listeners = new Set<ThrottleListener>();

  constructor(private readonly clock: Clock) {}

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
    for (const l of this.listeners) l(ms);
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
  if (!b) byKey.set(key, (b = new GraphBudget(clock)));
  return b;
}
