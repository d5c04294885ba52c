// The one use case every trigger calls: a run (rotate or scan) over the scope or the named apps, then its last
// step (notify, record, fan out) as the trigger's hand-off strategy says. The CLI, POST /api/rotate, GET /api/scan,
// the timer and the queue worker differ only in the request and the strategy they pass (see src/handoff.ts).
import type { TokenCredential } from '@azure/identity';
import { randomUUID } from 'node:crypto';
import { GraphApi } from './azure/graph.js';
import { createCredential, whoAmI } from './azure/identity.js';
import { AppLocks } from './azure/locks.js';
import { Vault } from './azure/vault.js';
import { notifyCutShort, type HandOffPlan, type Trigger } from './handoff.js';
import type { NotifyOptions } from './notify/notify.js';
import type { Logger, RunContext, RunDeps, Services } from './rotation/context.js';
import { loadVaultIndex, runRotation, type ReportStream, type RunResult } from './rotation/engine.js';
import type { AppReport, RequestedBy } from './rotation/report.js';
import { loadSettings, type Settings } from './settings.js';
import { systemClock, type Clock } from './util/clock.js';

export interface RunRequest {
  mode: 'scan' | 'rotate';
  dryRun?: boolean;
  /** Limit to these apps (by appId); they are reported even when out of scope. */
  appIds?: string[];
  /** Rotate the named apps even if not due; with `all`, every app in scope. */
  force?: boolean;
  runId?: string;
  /** Takes the report's entries as they become final (see RunOptions.stream). */
  stream?: ReportStream;
  /** Mail wait tuning (an HTTP run must answer within 230 s). */
  mailer?: NotifyOptions['mailer'];
  /** Emergency (contract §8): every app in scope, due or not (comes with force, without appIds). */
  all?: boolean;
  /** Emergency: once an app's new secret is stored, remove its other password credentials (with force). */
  revokeSuperseded?: boolean;
  /** The HTTP caller: recorded in the report, the run log and the run table. */
  requestedBy?: RequestedBy;
}

export interface RunOutcome {
  /** Undefined when the strategy found the work already done (a redelivered queue message). */
  result?: RunResult;
  /** Apps handed to queue workers. */
  queued: number;
  /** Apps found due (timer fan-out). */
  due?: number;
  /** The queue worker: this app's entry recorded before this delivery. */
  previous?: AppReport;
}

/** The adapters for these settings, on `clock` (their waits and stamps). Built at the edge; nothing below
 *  constructs an adapter. */
export function createServices(
  settings: Settings,
  credential: TokenCredential = createCredential(settings),
  clock: Clock = systemClock,
): Services {
  return {
    credential,
    graph: new GraphApi(credential, settings, { clock }),
    vault: settings.keyVaultUrl
      ? new Vault(credential, { ...settings, keyVaultUrl: settings.keyVaultUrl }, { clock })
      : undefined,
    locks: settings.storage ? new AppLocks(settings.storage, credential, { clock }) : undefined,
  };
}

/** What a trigger needs from outside: its settings, the clock, and the adapters (tests pass their own). */
export interface Edge {
  settings(opts: { requireKeyVault: boolean }): Settings;
  clock: Clock;
  services(settings: Settings): Services;
}

/** The edge of the deployed app and the CLI: settings from the environment, the system clock, real adapters. */
export const envEdge = (env: Record<string, string | undefined>): Edge => ({
  settings: (opts) => loadSettings(env, opts),
  clock: systemClock,
  services: (settings) => createServices(settings),
});

/** A run's dependencies: the adapters and who the rotator is (read once, from its own token). */
export async function connect(
  settings: Settings,
  log: Logger,
  given?: Services,
  clock: Clock = systemClock,
): Promise<RunDeps> {
  const services = given ?? createServices(settings, undefined, clock);
  const identity = await whoAmI(services.credential, settings);
  return { settings, services, identity, clock, log };
}

export async function runOnce(
  deps: RunDeps,
  trigger: Trigger,
  plan: HandOffPlan,
  request: RunRequest,
): Promise<RunOutcome> {
  const base = {
    ...deps,
    runId: request.runId ?? randomUUID(),
    dryRun: request.mode === 'scan' || !!request.dryRun,
    force: !!request.force,
    secretClaims: new Map<string, string>(),
    revokeSuperseded: !!request.force && !!request.revokeSuperseded,
  };
  if (request.all && request.appIds?.length) throw new Error('`all` and `appIds` exclude each other');
  const ctx: RunContext = {
    ...base,
    vaultIndex: loadVaultIndex(base, !request.appIds?.length),
    servicePrincipals: new Map(),
  };
  const hand = await plan(ctx, trigger, request.mailer);
  if (hand.skipEngine) {
    await hand.finish(undefined);
    return { queued: 0, previous: hand.previous };
  }
  const runCtx = { ...ctx, ...hand.allowed, ...(hand.budget ? { budget: hand.budget } : {}) };
  let result: RunResult;
  try {
    result = await runRotation(runCtx, {
      appIds: request.appIds,
      handOff: hand.handOff,
      stream: request.stream,
    });
  } catch (err) {
    await notifyCutShort(ctx, err, request.mailer);
    throw err;
  }
  if (request.requestedBy) result.report.requestedBy = request.requestedBy;
  if (!ctx.dryRun) await hand.finish(result);
  return { result, queued: hand.queued.length, due: hand.due, previous: hand.previous };
}
