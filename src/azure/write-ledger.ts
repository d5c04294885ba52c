// Graph's write budget shared by the queue workers of one deployment (issue 15: "when several workers run at once,
// their combined 429s stay within the target"). Graph counts the writes of the rotator's identity in its tenant in
// one sliding window (3,000 per 150 s; learn.microsoft.com/graph/throttling-limits) and says nothing before a 429:
// no header tells how much of the write budget is used (x-ms-throttle-limit-percentage is the resource units').
// Each worker process learning its share from its own 429s costs a burst of 429s per process at every window
// boundary. So the workers keep one ledger of the window in the storage they share (a table row, ETag-guarded:
// src/azure/write-ledger-table.ts) and take write tokens from it in blocks:
//   - a block is counted in the window from when it is granted, and a token not started within `useWithinMs` is
//     dropped, so a block holds its slots until its grant + the window + that time (+ slack for latency and clock
//     skew). A worker that dies holding tokens costs nothing more: they leave the window as if used;
//   - a worker asks for its waiting writes and, while the window is at most half full, for what it used in the last
//     `useWithinMs` (so Storage sees one reservation per block, not per write); near the budget it asks only for what
//     it sends at once, since an unused token would cost a slot of the window;
//   - a 429 still wins: its Retry-After pauses the ledger for every worker.
// The decision is pure (reserve, pauseLedger); SharedWriteTokens is the worker's side; the adapter is thin.
import type { Clock } from '../util/clock.js';

/** The budget the ledger enforces: `limit` writes in any `windowMs`. */
export interface WriteBudgetShape {
  limit: number;
  windowMs: number;
}

/** The ledger as stored: tokens granted per grant bucket (index = floor(at ÷ bucketMs)), oldest first. */
export interface LedgerState {
  grants: Array<[bucket: number, tokens: number]>;
  /** A write 429 asked every caller to wait until then (ms since the epoch). */
  pausedUntil: number;
}

export const emptyLedger = (): LedgerState => ({ grants: [], pausedUntil: 0 });

const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));

/** How finely grants are bucketed, how soon a token must be used, and how long a grant holds its slots. */
export function ledgerTiming(windowMs: number) {
  const bucketMs = Math.round(clamp(windowMs / 600, 100, 500));
  const useWithinMs = Math.round(clamp(windowMs / 200, 250, 1_500));
  // A token used at the end of its time reaches Graph a little later (on a loaded instance, event-loop lag and the
  // SDK's pipeline take a few hundred ms), and another worker's clock may be behind. Each ms here is lost once per
  // window; a token that arrives later still meets at worst a 429, which pauses every worker.
  const slackMs = Math.round(clamp(windowMs / 150, 400, 1_500));
  return { bucketMs, useWithinMs, holdMs: bucketMs + windowMs + useWithinMs + slackMs };
}

/** When the slots of grant bucket `bucket` leave the window. */
export const holdsUntil = (bucket: number, windowMs: number) => {
  const t = ledgerTiming(windowMs);
  return bucket * t.bucketMs + t.holdMs;
};

export interface Reservation {
  /** Tokens granted now (0..want). */
  granted: number;
  /** The ledger to store when `granted` > 0 (the grants still in the window, plus this one). */
  state: LedgerState;
  /** When none were granted: when asking again may succeed. */
  retryAt: number;
}

/**
 * Takes up to `need` write tokens at `now` from what the window has room for, and `extra` more (tokens for soon)
 * only while the window stays at most half full: near the budget an unused token would cost a slot (pure).
 */
export function reserve(
  s: LedgerState,
  now: number,
  need: number,
  b: WriteBudgetShape,
  extra = 0,
): Reservation {
  const live = s.grants.filter(([bucket]) => holdsUntil(bucket, b.windowMs) > now);
  const state = { ...s, grants: live };
  if (now < s.pausedUntil) return { granted: 0, state, retryAt: s.pausedUntil };
  let used = live.reduce((n, [, tokens]) => n + tokens, 0);
  const needed = Math.max(0, Math.floor(need));
  const more = Math.max(0, Math.floor(extra));
  const roomy = used + needed + more <= b.limit / 2;
  const granted = Math.max(0, Math.min(needed + (roomy ? more : 0), b.limit - used));
  if (granted > 0) {
    const bucket = Math.floor(now / ledgerTiming(b.windowMs).bucketMs);
    const last = live[live.length - 1];
    const grants: LedgerState['grants'] =
      last && last[0] === bucket
        ? [...live.slice(0, -1), [bucket, last[1] + granted]]
        : [...live, [bucket, granted]];
    return { granted, state: { ...state, grants }, retryAt: now };
  }
  // Full: the first moment one slot is free again.
  for (const [bucket, tokens] of live) {
    used -= tokens;
    if (used < b.limit) return { granted: 0, state, retryAt: holdsUntil(bucket, b.windowMs) };
  }
  return { granted: 0, state, retryAt: now + b.windowMs }; // limit ≤ 0: a budget that admits nothing
}

/** A write 429 said to wait until `until`: every worker waits. */
export const pauseLedger = (s: LedgerState, until: number): LedgerState =>
  until > s.pausedUntil ? { ...s, pausedUntil: until } : s;

/** The shared ledger as a worker sees it (src/azure/write-ledger-table.ts over the run table). */
export interface WriteLedger {
  /** Takes up to `need` tokens at `now` (and `extra` while the window has room): how many were granted and, when
   *  none, when to ask again. */
  reserve(need: number, extra: number, now: number): Promise<{ granted: number; retryAt: number }>;
  /** Tells every worker to wait until `until` (best effort). */
  pause(until: number): Promise<void>;
}

/** Tokens for soon: what the worker used in the last `useWithinMs` beyond its waiting writes, at most `max`. */
export const extraWanted = (waiting: number, usedRecently: number, max: number) =>
  Math.max(0, Math.min(usedRecently, max) - waiting);

/** The most tokens for soon a worker asks for: a fortieth of the budget (3,000 → 75). */
export const maxBlock = (b: WriteBudgetShape) => Math.max(1, Math.floor(b.limit / 40));

/**
 * One worker process's tokens from the shared ledger: a write takes one (waiting while the window is full); one
 * reservation at a time serves every waiting write. Tokens not used within their time are dropped. When the ledger
 * cannot be reached the write goes ahead unmetered (Graph's 429 still guards it): rotations never fail for it.
 */
export class SharedWriteTokens {
  private tokens = 0;
  private expiresAt = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly taken: number[] = [];
  private reserving = false;
  /** Tokens owed for the retries of refused writes. */
  private owed = 0;
  private readonly timing: ReturnType<typeof ledgerTiming>;
  /** Reservations made, and those that failed (the write went unmetered); tokens granted, and dropped unused. */
  readonly stats = { reservations: 0, failures: 0, granted: 0, dropped: 0 };

  constructor(
    private readonly ledger: WriteLedger,
    private readonly budget: WriteBudgetShape,
    private readonly clock: Clock,
  ) {
    this.timing = ledgerTiming(budget.windowMs);
  }

  private now = () => this.clock.now().getTime();

  /** Waits for a token; the caller sends its write right away. */
  async take(): Promise<void> {
    if (this.waiting.length === 0 && this.takeHeld()) return;
    await new Promise<void>((go) => {
      this.waiting.push(go);
      void this.fill();
    });
  }

  /**
   * A write of ours met a 429: every worker waits it out (the caller's own pause is set already), and its retry
   * (sent when the pause ends, long after its token's time) takes one more token then.
   */
  refused(until: number): void {
    this.owed++;
    this.ledger.pause(until).catch(() => undefined);
    void this.fill();
  }

  private takeHeld(): boolean {
    const now = this.now();
    if (now >= this.expiresAt) {
      this.stats.dropped += this.tokens;
      this.tokens = 0;
    }
    if (this.tokens === 0) return false;
    this.tokens--;
    this.taken.push(now);
    return true;
  }

  private async fill(): Promise<void> {
    if (this.reserving) return;
    this.reserving = true;
    try {
      for (;;) {
        while (this.waiting.length && this.takeHeld()) this.waiting.shift()!();
        while (this.owed && this.takeHeld()) this.owed--;
        // Here no token is held: a new block never lends its time to older tokens.
        if (!this.waiting.length && !this.owed) return;
        const now = this.now();
        while (this.taken.length && this.taken[0]! + this.timing.useWithinMs <= now) this.taken.shift();
        const asking = this.waiting.length + this.owed;
        const extra = extraWanted(asking, this.taken.length, maxBlock(this.budget));
        this.stats.reservations++;
        const got = await this.ledger.reserve(asking, extra, now).catch(() => {
          this.stats.failures++;
          return { granted: this.waiting.length + this.owed, retryAt: now };
        });
        this.stats.granted += got.granted;
        if (got.granted > 0) {
          // The writes that asked go now, however long the reservation took (a slow Storage answer would
          // otherwise burn blocks); the rest keep their time from before the reservation.
          const paid = Math.min(this.owed, got.granted);
          this.owed -= paid;
          let left = got.granted - paid;
          const at = this.now();
          for (; left > 0 && this.waiting.length; left--) {
            this.taken.push(at);
            this.waiting.shift()!();
          }
          this.tokens = left;
          this.expiresAt = now + this.timing.useWithinMs;
        } else {
          await this.clock.sleep(Math.max(20, got.retryAt - this.now()));
        }
      }
    } finally {
      this.reserving = false;
    }
  }
}
