// The soak's fault schedule: each day draws, from the seeded Rng, which faults the simulated cloud injects during that
// day's run (test/sim/http.ts fault rules), and which ways the run itself is disturbed (killed between two steps, a
// second run at once, replication slowed to minutes).
import type { SimCloud } from '../sim/cloud.js';
import type { ActiveFault } from '../sim/http.js';
import type { Rng } from './rng.js';

export const FAULT_KINDS = [
  'graph-429-burst',
  'graph-5xx',
  'keyvault-5xx',
  'entra-5xx',
  'keyvault-outage-day',
  'acs-down-day',
  'replication-delay-minutes',
  'crash-between-steps',
  'two-runs-at-once',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The external steps of a rotation a crash may follow (the same list as test/reliability/harness.ts STEPS). */
export const CRASH_STEPS = [
  'graph.listOwnedObjects',
  'graph.batch',
  'graph.addPassword',
  'entra.token',
  'keyvault.setSecret',
  'keyvault.listVersions',
  'acs.send',
  'graph.removePassword',
] as const;

export interface DayFaults {
  /** Rules added to the cloud for this day, by kind (hits are read after the run). */
  rules: Array<{ kind: FaultKind; rule: ActiveFault }>;
  /** Replication delay for the day's new secrets (ms), when slowed. */
  replicationDelayMs?: number;
  /** Kill the run right after this step commits. */
  crashAfter?: string;
  /** A second run starts at the same time (the timer and an HTTP call). */
  concurrent: boolean;
  /** Whole-day outages: the day's run cannot finish everything it should (orphans may wait a day longer). */
  outage: boolean;
}

export interface FaultOptions {
  /** Crashes need a worker thread per kill (a second or two each): the small suite version may turn them off. */
  crashes: boolean;
  /** Replication delays of minutes need the product to wait on the injected clock. */
  slowReplication: boolean;
}

const GRAPH_5XX_OPS = [
  'graph.listOwnedObjects',
  'graph.getApplication',
  'graph.batch',
  'graph.addPassword',
  'graph.removePassword',
];

/** Draws the day's faults and installs the rules on the cloud. */
export function scheduleFaults(
  cloud: SimCloud,
  rng: Rng,
  opts: FaultOptions,
  yesterday?: DayFaults,
): DayFaults {
  const day: DayFaults = { rules: [], concurrent: false, outage: false };
  const add = (kind: FaultKind, rule: Parameters<SimCloud['faults']['add']>[0]) =>
    day.rules.push({ kind, rule: cloud.faults.add(rule) });

  for (let i = rng.int(0, 2); i > 0; i--)
    add('graph-429-burst', {
      op: /^graph\./,
      status: 429,
      retryAfterSeconds: 1,
      code: 'TooManyRequests',
      times: rng.int(2, 6),
      after: rng.int(0, 20),
    });
  for (let i = rng.int(0, 2); i > 0; i--)
    add('graph-5xx', {
      op: rng.pick(GRAPH_5XX_OPS),
      status: rng.pick([500, 502, 503, 504]),
      times: rng.int(1, 2),
      after: rng.int(0, 3),
    });
  if (rng.chance(0.4))
    add('keyvault-5xx', {
      op: rng.pick([
        'keyvault.setSecret',
        'keyvault.listVersions',
        'keyvault.listSecrets',
        'keyvault.getSecret',
      ]),
      status: rng.pick([500, 503]),
      times: 1,
    });
  if (rng.chance(0.3)) add('entra-5xx', { op: 'entra.token', status: 503, times: 1 });

  // Whole-day outages never two days running: a week of overlap absorbs a day, and the schedule stays realistic.
  const outageYesterday = !!yesterday?.outage;
  if (!outageYesterday && rng.chance(0.03)) {
    add('keyvault-outage-day', { op: /^keyvault\./, status: 503, code: 'ServiceUnavailable' });
    day.outage = true;
  } else if (!outageYesterday && rng.chance(0.04)) {
    add('acs-down-day', { op: /^acs\./, status: 503 });
    day.outage = true;
  }
  // A killed run runs in a worker thread on real time: no slow replication that day (it would cost real minutes).
  if (opts.crashes && !day.outage && rng.chance(0.07)) day.crashAfter = rng.pick(CRASH_STEPS);
  else if (rng.chance(0.08)) day.concurrent = true;
  if (opts.slowReplication && !day.crashAfter && rng.chance(0.15))
    day.replicationDelayMs = rng.int(1, 4) * 60_000;
  return day;
}

/** Faults by kind: how many were injected, and how many of them the run actually ran into. */
export type FaultTally = Record<FaultKind, { injected: number; hit: number }>;

export function emptyTally(): FaultTally {
  return Object.fromEntries(FAULT_KINDS.map((k) => [k, { injected: 0, hit: 0 }])) as FaultTally;
}

export function tallyDay(tally: FaultTally, day: DayFaults, crashed: boolean): void {
  for (const { kind, rule } of day.rules) {
    tally[kind].injected++;
    if (rule.hits > 0) tally[kind].hit++;
  }
  if (day.replicationDelayMs) {
    tally['replication-delay-minutes'].injected++;
    tally['replication-delay-minutes'].hit++;
  }
  if (day.crashAfter) {
    tally['crash-between-steps'].injected++;
    if (crashed) tally['crash-between-steps'].hit++;
  }
  if (day.concurrent) {
    tally['two-runs-at-once'].injected++;
    tally['two-runs-at-once'].hit++;
  }
}
