// The bench's yardstick: the shortest time any rotator could take on the simulated cloud, from the configured
// latencies and Graph's documented write budget.

export interface Latencies {
  graph: number;
  entra: number;
  mi: number;
  keyvault: number;
  acs: number;
}

/** Graph's identity write budget per app+tenant pair, 3,000 writes per 150 s, taken as a steady rate. */
export const WRITES_PER_SECOND = 3_000 / 150;

export interface LowerBoundInput {
  /** Sequential pages of app registrations (ceil(apps / page size)). */
  pages: number;
  latency: Latencies;
  /** Requests one proof makes at Entra (OpenID metadata + token endpoint when the credential is fresh). */
  entraRequestsPerProof: number;
  /** Graph writes the run made (addPassword, removePassword). */
  graphWrites: number;
}

export interface LowerBound {
  seconds: number;
  /** pages × Graph latency + one app's create → prove → store chain. */
  latencySeconds: number;
  chainMs: number;
  /** Graph writes ÷ the write budget as a rate. */
  writeBudgetSeconds: number;
}

/**
 * max(pages × Graph latency + one create→prove→store chain, writes ÷ write rate). The chain is addPassword
 * (Graph), the proof's Entra requests, and setSecret (Key Vault): the requests that must follow one another
 * for the last app listed. Everything else (more apps, owners, mail) can overlap with these.
 */
export function lowerBound(i: LowerBoundInput): LowerBound {
  const chainMs = i.latency.graph + i.entraRequestsPerProof * i.latency.entra + i.latency.keyvault;
  const latencySeconds = (i.pages * i.latency.graph + chainMs) / 1000;
  const writeBudgetSeconds = i.graphWrites / WRITES_PER_SECOND;
  return {
    seconds: Math.max(latencySeconds, writeBudgetSeconds),
    latencySeconds,
    chainMs,
    writeBudgetSeconds,
  };
}
