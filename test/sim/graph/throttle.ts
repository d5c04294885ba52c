// Graph's identity-and-access throttling (throttling-limits.md, "Identity and access service limits"):
// resource units per application+tenant pair per 10 s by tenant size, writes per pair per 150 s,
// writes per tenant per 5 min, and 60 writes per minute on apps that accept personal accounts.
// Sliding windows; a refused request consumes nothing, so Retry-After is exact.

export type ThrottlingTier = 'S' | 'M' | 'L';

export interface GraphBudgets {
  /** Resource units per application+tenant pair per `ruWindowMs`, by tenant size. */
  resourceUnits: Record<ThrottlingTier, number>;
  ruWindowMs: number;
  /** Writes per application+tenant pair. */
  appTenantWrites: number;
  appTenantWritesWindowMs: number;
  /** Writes per tenant, all callers together. */
  tenantWrites: number;
  tenantWritesWindowMs: number;
  /** Writes on one application whose signInAudience includes personal Microsoft accounts. */
  personalAppWrites: number;
  personalAppWritesWindowMs: number;
}

export const DEFAULT_GRAPH_BUDGETS: Readonly<GraphBudgets> = Object.freeze({
  resourceUnits: Object.freeze({ S: 3_500, M: 5_000, L: 8_000 }),
  ruWindowMs: 10_000,
  appTenantWrites: 3_000,
  appTenantWritesWindowMs: 150_000,
  tenantWrites: 18_000,
  tenantWritesWindowMs: 300_000,
  personalAppWrites: 60,
  personalAppWritesWindowMs: 60_000,
}) as GraphBudgets;

export interface GraphCounters {
  /** Requests that reached Graph's logic (batch sub-requests included, the batch envelope not). */
  requests: number;
  /** 429 answers from budget throttling. */
  throttled: number;
  /** Writes that were admitted (addPassword, removePassword). */
  writes: number;
  /** Resource units admitted. */
  resourceUnits: number;
}

/** One sliding window: entries of (time, amount) with a running total. */
class Window {
  private entries: Array<{ at: number; amount: number }> = [];
  private head = 0;
  private total = 0;

  used(now: number, windowMs: number): number {
    while (this.head < this.entries.length && this.entries[this.head]!.at + windowMs <= now) {
      this.total -= this.entries[this.head]!.amount;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return this.total;
  }

  add(now: number, amount: number): void {
    this.entries.push({ at: now, amount });
    this.total += amount;
  }

  /** Whole seconds until `amount` more fits under `limit` (at least 1). */
  retryAfterSeconds(now: number, windowMs: number, limit: number, amount: number): number {
    let used = this.used(now, windowMs);
    for (let i = this.head; i < this.entries.length; i++) {
      used -= this.entries[i]!.amount;
      if (used + amount <= limit) {
        return Math.max(1, Math.ceil((this.entries[i]!.at + windowMs - now) / 1000));
      }
    }
    return Math.max(1, Math.ceil(windowMs / 1000));
  }
}

export interface ThrottleRequest {
  /** The caller's application id (`appid` claim). */
  callerAppId: string;
  tenantId: string;
  tier: ThrottlingTier;
  resourceUnits: number;
  isWrite: boolean;
  /** The target application's appId when it accepts personal accounts (60 writes/min). */
  personalTargetAppId?: string;
}

export type ThrottleDecision =
  | { ok: true; usedFraction: number }
  | {
      ok: false;
      retryAfterSeconds: number;
      scope: string;
      information: 'ResourceUnitLimitExceeded' | 'WriteLimitExceeded';
    };

export class GraphThrottle {
  budgets: GraphBudgets = cloneBudgets(DEFAULT_GRAPH_BUDGETS);
  enabled: boolean;
  readonly counters: GraphCounters = { requests: 0, throttled: 0, writes: 0, resourceUnits: 0 };
  private windows = new Map<string, Window>();

  constructor(enabled: boolean) {
    this.enabled = enabled;
  }

  /** Replaces some budgets (tests shrink them to provoke 429s); the rest keep their values. */
  setBudgets(
    partial: Partial<Omit<GraphBudgets, 'resourceUnits'>> & {
      resourceUnits?: Partial<Record<ThrottlingTier, number>>;
    },
  ): void {
    this.budgets = {
      ...this.budgets,
      ...partial,
      resourceUnits: { ...this.budgets.resourceUnits, ...(partial.resourceUnits ?? {}) },
    };
  }

  /** Back to the documented budgets, with every window emptied. */
  reset(): void {
    this.budgets = cloneBudgets(DEFAULT_GRAPH_BUDGETS);
    this.windows.clear();
  }

  private window(key: string): Window {
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = new Window()));
    return w;
  }

  /** Admits the request (recording its cost) or says which limit refused it. */
  /** `now` comes from the cloud's clock, so a test that advances it sees the windows refill. */
  admit(r: ThrottleRequest, now: number): ThrottleDecision {
    this.counters.requests++;
    const b = this.budgets;
    const pair = `${r.callerAppId}/${r.tenantId}`;
    const checks: Array<{
      window: Window;
      windowMs: number;
      limit: number;
      amount: number;
      scope: string;
      information: 'ResourceUnitLimitExceeded' | 'WriteLimitExceeded';
    }> = [
      {
        window: this.window(`ru/${pair}`),
        windowMs: b.ruWindowMs,
        limit: b.resourceUnits[r.tier],
        amount: r.resourceUnits,
        scope: `Tenant_Application/ReadWrite/${pair}`,
        information: 'ResourceUnitLimitExceeded',
      },
    ];
    if (r.isWrite) {
      checks.push(
        {
          window: this.window(`w/${pair}`),
          windowMs: b.appTenantWritesWindowMs,
          limit: b.appTenantWrites,
          amount: 1,
          scope: `Tenant_Application/Write/${pair}`,
          information: 'WriteLimitExceeded',
        },
        {
          window: this.window(`tw/${r.tenantId}`),
          windowMs: b.tenantWritesWindowMs,
          limit: b.tenantWrites,
          amount: 1,
          scope: `Tenant/Write/${r.tenantId}`,
          information: 'WriteLimitExceeded',
        },
      );
      if (r.personalTargetAppId) {
        checks.push({
          window: this.window(`pw/${r.personalTargetAppId}`),
          windowMs: b.personalAppWritesWindowMs,
          limit: b.personalAppWrites,
          amount: 1,
          scope: `Application/Write/${r.personalTargetAppId}/${r.tenantId}`,
          information: 'WriteLimitExceeded',
        });
      }
    }
    if (this.enabled) {
      for (const c of checks) {
        if (c.window.used(now, c.windowMs) + c.amount > c.limit) {
          this.counters.throttled++;
          return {
            ok: false,
            retryAfterSeconds: c.window.retryAfterSeconds(now, c.windowMs, c.limit, c.amount),
            scope: c.scope,
            information: c.information,
          };
        }
      }
    }
    for (const c of checks) c.window.add(now, c.amount);
    this.counters.resourceUnits += r.resourceUnits;
    if (r.isWrite) this.counters.writes++;
    const ru = checks[0]!;
    return { ok: true, usedFraction: ru.window.used(now, ru.windowMs) / ru.limit };
  }
}

function cloneBudgets(b: GraphBudgets): GraphBudgets {
  return { ...b, resourceUnits: { ...b.resourceUnits } };
}

/** Resource-unit cost of one request (throttling-limits.md cost table and modifiers). */
export function resourceUnitCost(op: string, query: URLSearchParams): number {
  let cost = op === 'graph.listApplications' ? 2 : 1;
  if (query.has('$select')) cost -= 1;
  if (query.has('$expand')) cost += 1;
  const top = Number(query.get('$top'));
  if (query.has('$top') && Number.isFinite(top) && top < 20) cost -= 1;
  return Math.max(1, cost);
}
