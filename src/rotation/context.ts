// What one run hands down to the engine, reconcile, the protocol steps and notification: the adapters, who the
// rotator is, the clock and the log. Built once per run (src/run.ts); nothing below constructs an adapter.
import type { TokenCredential } from '@azure/identity';
import type { GraphApi } from '../azure/graph.js';
import type { Identity } from '../azure/identity.js';
import type { AppLocks } from '../azure/locks.js';
import type { LatestTags, Vault } from '../azure/vault.js';
import type { Settings } from '../settings.js';
import type { AppView } from './checks.js';
import type { Clock } from '../util/clock.js';

export type Logger = (msg: string, fields?: Record<string, unknown>) => void;

/** The adapters of one run. */
export interface Services {
  credential: TokenCredential;
  graph: GraphApi;
  vault?: Vault;
  locks?: AppLocks;
}

/** Everything a run reads from outside itself. */
export interface RunDeps {
  settings: Settings;
  services: Services;
  identity: Identity;
  clock: Clock;
  log: Logger;
}

/** The vault's latest keyId and appId tags (and owed notices) by lower-case secret name: one listing per whole-scope run. */
export type VaultIndex = Map<string, LatestTags>;

/** One run's context for reconcile and gather. */
export interface RunContext extends RunDeps {
  runId: string;
  /** A scan or a dry run: decide and report, change nothing. */
  dryRun: boolean;
  /** Rotate the apps even if not due (--force with --app). */
  force: boolean;
  /** Emergency (§8): once an app's new secret is stored, every other password credential of it is removed. */
  revokeSuperseded?: boolean;
  /** Settles for undefined when the run is not over the whole scope or the listing failed. */
  vaultIndex: Promise<VaultIndex | undefined>;
  /**
   * An HTTP run's time budget (handoff.ts timeBudget): no proof waits past `deadline`, and an app whose proof was cut
   * there is handed to `requeue`, which queues it for a worker and returns the report's reason.
   */
  budget?: { deadline: Date; requeue(app: AppView): string };
  /** Service principal lookups of this run by lower-case appId (§8), batched per listed page; absent: per app. */
  servicePrincipals?: Map<string, Promise<boolean | undefined>>;
  /** Key Vault secret names (lower case) claimed by the app (lower-case appId) that writes them in this run (§8). */
  secretClaims: Map<string, string>;
}
