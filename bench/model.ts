// The bench's yardstick: the shortest time any rotator could take for what a run actually did on the simulated
// cloud, from the simulator's latencies and the Graph budgets it enforces (test/sim/graph/throttle.ts) taken as
// what they are, sliding windows; and the floor this machine's cores put under the same run.
import { DEFAULT_GRAPH_BUDGETS, type ThrottlingTier } from '../test/sim/graph/throttle.js';

export interface Latencies {
  graph: number;
  entra: number;
  mi: number;
  keyvault: number;
  acs: number;
}

/** A sliding-window budget: at most `limit` units in any `windowSeconds`. */
export interface WindowBudget {
  limit: number;
  windowSeconds: number;
}

export interface GraphBudgetWindows {
  /** Resource units per app+tenant pair (by the tenant's tier). */
  resourceUnits: WindowBudget;
  /** Writes per app+tenant pair. */
  appTenantWrites: WindowBudget;
  /** Writes per tenant, all callers together. */
  tenantWrites: WindowBudget;
}

/** The budgets the simulator enforces, as documented for Graph's identity and access service. */
export function simulatorBudgets(tier: ThrottlingTier): GraphBudgetWindows {
  const b = DEFAULT_GRAPH_BUDGETS;
  return {
    resourceUnits: { limit: b.resourceUnits[tier], windowSeconds: b.ruWindowMs / 1000 },
    appTenantWrites: { limit: b.appTenantWrites, windowSeconds: b.appTenantWritesWindowMs / 1000 },
    tenantWrites: { limit: b.tenantWrites, windowSeconds: b.tenantWritesWindowMs / 1000 },
  };
}

/**
 * How long a budget holds back `used` units at the least: the first `limit` pass at once, the rest at the
 * window's average rate, limit ÷ window. (The true sliding window admits the next `limit` only a whole
 * window later, so this is never more than what it really costs: a lower bound.)
 */
export function budgetDelaySeconds(used: number, b: WindowBudget): number {
  return Math.max(0, used - b.limit) / (b.limit / b.windowSeconds);
}

/**
 * How long a sliding window holds back `used` units at the least, taken exactly: a unit is admitted only once the
 * unit `limit` places before it has left the window, so the (k·limit+1)-th comes at least k windows after the first.
 */
export function slidingWindowDelaySeconds(used: number, b: WindowBudget): number {
  return used <= 0 ? 0 : (Math.ceil(used / b.limit) - 1) * b.windowSeconds;
}

/** What the run consumed, counted from the simulator's request log. */
export interface GraphUsage {
  /** Resource units admitted by the pair's budget. */
  resourceUnits: number;
  /** Writes admitted (addPassword, removePassword), by this caller. */
  writes: number;
  /** Writes admitted in the tenant, all callers (the bench has one caller, so = writes). */
  tenantWrites: number;
  /** Of the writes, removePassword (revocations, retirements): a run's last write may then be one of them. */
  removals: number;
}

const WRITE_OPS = new Set(['graph.addPassword', 'graph.removePassword']);

/**
 * What a run consumed of Graph's budgets, from the simulator's request log: Graph requests by op and status
 * (its /stats). A request the budget refused (429) consumed nothing, nor did one refused before it (401);
 * batch envelopes are not charged (their sub-requests are). Every request costs at least one resource unit,
 * so one per admitted request is the least the run used, and the bound built on it stays a bound.
 */
export function graphUsage(graphRequestsByOp: Record<string, Record<string, number>>): GraphUsage {
  let resourceUnits = 0;
  let writes = 0;
  let removals = 0;
  for (const [op, byStatus] of Object.entries(graphRequestsByOp)) {
    if (op === 'graph.batch') continue;
    const all = Object.values(byStatus).reduce((a, b) => a + b, 0);
    const admitted = all - (byStatus['429'] ?? 0) - (byStatus['401'] ?? 0);
    resourceUnits += admitted;
    if (WRITE_OPS.has(op)) writes += admitted;
    if (op === 'graph.removePassword') removals += admitted;
  }
  // The bench's tenant has one caller, the rotator: the tenant's writes are its writes.
  return { resourceUnits, writes, tenantWrites: writes, removals };
}

export interface LowerBoundInput {
  /** Sequential pages of app registrations (ceil(apps / page size)). */
  pages: number;
  latency: Latencies;
  /** Requests one proof makes at Entra (OpenID metadata + token when the credential is fresh). */
  entraRequestsPerProof: number;
  used: GraphUsage;
  budgets: GraphBudgetWindows;
}

export type LowerBoundTerm = 'listing' | 'resourceUnits' | 'appTenantWrites' | 'tenantWrites';

export interface LowerBound {
  seconds: number;
  /** Which term is the largest: what bounds the run in the cloud. */
  binding: LowerBoundTerm;
  /** One create → prove → store chain (addPassword, the proof's Entra requests, setSecret). */
  chainSeconds: number;
  /** Each term of the max, chain included. */
  terms: Record<LowerBoundTerm, number>;
}

export const LOWER_BOUND_FORMULA =
  'LB = max(pages × Graph latency + chain, Graph latency + delay(RU), tail + delay(app+tenant writes), ' +
  'tail + delay(tenant writes)); delay(x) = max(0, used − limit) ÷ (limit ÷ window); ' +
  'chain = addPassword + the proof’s Entra requests + setSecret; ' +
  'tail = chain, or Graph latency when the run also removed credentials';

/**
 * The honest lower bound. The last page is listed after all the others, and an app on it still needs its
 * create → prove → store chain (every page holds a due app in the bench's tenants). Whatever a budget holds
 * back is followed at least by the last admitted request's own round-trip: for writes, when every write is an
 * addPassword, by a whole chain (its secret must then be proven and stored); when the run also removed
 * credentials the last write may be a removal, which needs nothing after it. A request that consumes resource
 * units may be the last of the run (an owner read, say), so the RU term adds only its round-trip. Everything
 * else (more apps, owners, mail) can overlap with these.
 */
export function lowerBound(i: LowerBoundInput): LowerBound {
  const chainSeconds =
    (i.latency.graph + i.entraRequestsPerProof * i.latency.entra + i.latency.keyvault) / 1000;
  const graphSeconds = i.latency.graph / 1000;
  const writeTail = i.used.removals > 0 ? graphSeconds : chainSeconds;
  const terms: Record<LowerBoundTerm, number> = {
    listing: i.pages * graphSeconds + chainSeconds,
    resourceUnits: graphSeconds + budgetDelaySeconds(i.used.resourceUnits, i.budgets.resourceUnits),
    appTenantWrites: writeTail + budgetDelaySeconds(i.used.writes, i.budgets.appTenantWrites),
    tenantWrites: writeTail + budgetDelaySeconds(i.used.tenantWrites, i.budgets.tenantWrites),
  };
  let binding: LowerBoundTerm = 'listing';
  for (const t of Object.keys(terms) as LowerBoundTerm[]) if (terms[t] > terms[binding]) binding = t;
  return { seconds: terms[binding], binding, chainSeconds, terms };
}

/** CPU seconds one process spent during a run: all its threads, and its main thread (the event loop). */
export interface ProcessCpu {
  total: number;
  mainThread: number;
}

/**
 * The floor the machine's cores put under a run: the CPU seconds both processes (rotator and simulator) spent
 * during it cannot take less wall time than their sum spread over every core, nor than either event loop's own
 * CPU seconds (one thread runs on one core at a time).
 */
export function cpuFloorSeconds(processes: readonly ProcessCpu[], cores: number): number {
  const spread = processes.reduce((a, p) => a + p.total, 0) / Math.max(1, cores);
  return Math.max(spread, ...processes.map((p) => p.mainThread));
}

/** What bounds a run: the cloud (the lower bound's binding term) or this machine's CPU, whichever is larger. */
export function boundBy(lb: LowerBound, cpuFloor: number): 'cpu' | LowerBoundTerm {
  return cpuFloor > lb.seconds ? 'cpu' : lb.binding;
}
