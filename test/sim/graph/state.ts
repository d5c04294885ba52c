// The explicit state every Graph handler works on: the shared cloud (tenant, clock, faults, log), the knobs tests
// turn, and the apps with a write in flight. Handlers are plain functions of (state, call).
import type { SimContext } from '../cloud.js';
import type { SimRequest, SimResponse } from '../http.js';
import type { Tenant } from '../tenant.js';
import type { AccessClaims } from '../tokens.js';
import type { GraphThrottle } from './throttle.js';

/** Knobs tests and the benchmark reach through `graphControl(cloud)`. */
export interface GraphControl {
  /** Budgets (`setBudgets`, `reset`, `budgets`), the on/off switch and the counters. */
  throttle: GraphThrottle;
  /** A write that arrives while another write on the same app is in flight gets 400 (§I). */
  concurrency: {
    enabled: boolean;
    /** How long a write holds its app (real ms). */
    holdMs: number;
    /** When set, a write holds its app until this settles instead (tests make an overlap certain). */
    gate?: Promise<void>;
    /** Object ids of apps with a write in flight. */
    readonly inFlight: Set<string>;
  };
  /** The status of removePassword for a keyId the app does not hold (see REMOVE_UNKNOWN_KEY_DEFAULT). */
  removePasswordUnknownKeyId: 400 | 404;
}

export interface GraphState {
  readonly ctx: SimContext;
  readonly tenant: Tenant;
  readonly control: GraphControl;
}

/** One authenticated request: the caller's token claims and its Graph app roles. */
export interface Call {
  req: SimRequest;
  claims: AccessClaims;
  roles: Set<string>;
}

export type GraphHandler = (g: GraphState, call: Call) => SimResponse | Promise<SimResponse>;

/** The Graph resource id (tokens may name it, or the simulator's own origin, as audience). */
export const GRAPH_RESOURCE = 'https://graph.microsoft.com';
export const DAY = 86_400_000;
export const lower = (s: string) => s.toLowerCase();
