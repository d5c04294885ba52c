// One app, start to finish: lock → gather → sweep → decide → rotate or retire → report entry. The only place that
// turns outcomes into report entries and reasons. Callers: the engine (every listed app), through it the queue
// worker and the HTTP and timer runs, and bench/baseline.ts.
import { describeError } from '../errors.js';
import {
  decide,
  firstFinding,
  secretHeldByAnotherApp,
  skipChain,
  triageChain,
  vaultIndexChain,
  type AppView,
  type Decision,
} from './checks.js';
import type { RunContext } from './context.js';
import {
  gatherApp,
  indexedLatestKeyId,
  previewVault,
  resolveApp,
  servicePrincipalOf,
  type AppState,
} from './gather.js';
import { policyFor, type AppPolicy } from './policy.js';
import {
  retireSuperseded,
  ROTATION_STEPS,
  runSteps,
  sweepOrphans,
  type Rotation,
  type StepContext,
} from './protocol.js';
import { asSecretOwner, previewOwner, previewOwnership } from './ownership.js';
import type { AppReport, EntryCode } from './report.js';
import type { StoredOutcome } from '../azure/runs.js';

/** What the notification step (and the run table) needs about a rotated or failed app. */
export type RotationOutcome = StoredOutcome;

/** An app that changed (rotated, or failed while rotating): its owners are told. */
export interface ChangedApp {
  app: AppView;
  report: AppReport;
  outcome?: RotationOutcome;
  notify: string[];
  /** A notice taken over from an interrupted run: the recipients that run reached already (lower case). */
  toldAlready?: string[];
}

export interface Reconciled {
  entry: AppReport;
  /** Set for rotated apps and failed rotations: the run's notification step takes these. */
  changed?: ChangedApp;
}

type Head = Pick<AppView, 'appId' | 'displayName'>;

function entry(app: Head, action: AppReport['action'], code: EntryCode, reason: string): AppReport {
  // Plain literals, not spreads: a large tenant's report holds one of these per app, and a spread object with
  // added fields takes about three times the memory.
  return { appId: app.appId, displayName: app.displayName, action, reason, code };
}

/** The entry of a decision. A due app becomes `would-rotate` in a dry run; the rotation itself reports otherwise. */
function decisionEntry(app: Head, d: Decision, dryRun: boolean): AppReport {
  const { appId, displayName } = app;
  if (d.action === 'skip') return entry(app, 'skipped', d.code, d.reason);
  if (d.action === 'fail') return entry(app, 'failed', d.code, d.reason);
  if (d.action === 'up-to-date')
    return {
      appId,
      displayName,
      action: 'up-to-date',
      expiresOn: d.current?.endDateTime,
      reason: d.reason,
      code: d.code,
    };
  return entry(app, dryRun ? 'would-rotate' : 'failed', d.code, d.reason);
}

/** An app given to someone else (a queue worker): not touched by this run. */
export const handedOffEntry = (app: Head, reason: string): AppReport =>
  entry(app, 'skipped', 'handed-off', reason);

/** An app the queue worker failed on until the host gave up (the poison queue). */
export const gaveUpEntry = (app: Head, reason: string): AppReport =>
  entry(app, 'failed', 'worker-gave-up', reason);

const errorEntry = (app: Head, err: unknown): AppReport => entry(app, 'failed', 'error', describeError(err));

/**
 * The listing pass: the entry of an app that Graph's data and the vault index settle (most apps of a large
 * tenant), or undefined when it needs reconciling. The vault index is awaited only past the Graph-only chain.
 */
export async function triageListed(ctx: RunContext, app: AppView): Promise<AppReport | undefined> {
  const policy = policyFor(app, ctx.settings);
  const input = { app, policy, now: ctx.clock.now(), force: ctx.force };
  const skip = firstFinding(skipChain, input);
  if (skip) return entry(app, 'skipped', skip.code, skip.reason);
  if (firstFinding(triageChain, input)) return undefined;
  const latest = await indexedLatestKeyId(ctx, app, policy);
  if (firstFinding(vaultIndexChain, { ...input, vaultLatestKeyId: latest })) return undefined;
  const vault = latest ? { latestKeyId: latest, storedKeyIds: new Set([latest]) } : undefined;
  return decisionEntry(app, decide({ ...input, vault, force: false }), ctx.dryRun);
}

/** An app named by appId (--app, a queue message): the app, or the failed entry saying why it is not one to rotate. */
export async function resolveTarget(ctx: RunContext, appId: string): Promise<AppView | AppReport> {
  const head = { appId, displayName: '' };
  try {
    const found = await resolveApp(ctx, appId);
    if ('missing' in found) return entry(found.app ?? head, 'failed', found.code, found.missing);
    return found.app;
  } catch (err) {
    return errorEntry(head, err);
  }
}

/** The decision without the lock and without changing anything: a dry run's answer, and the hand-off's question. */
export async function previewApp(ctx: RunContext, app: AppView): Promise<Decision> {
  const policy = policyFor(app, ctx.settings);
  const [vault, servicePrincipal] = await Promise.all([
    previewVault(ctx, policy),
    servicePrincipalOf(ctx, app, policy),
  ]);
  return decide({ app, policy, vault, now: ctx.clock.now(), force: ctx.force, servicePrincipal });
}

/**
 * A dry run's entry, refused where the real run would refuse: a due app whose secret it would not write, and any
 * app it reconciles whose secret holds another app's (reconcileState checks that first, due or not).
 */
async function dryRunEntry(ctx: RunContext, app: AppView): Promise<AppReport> {
  const decision = await previewApp(ctx, app);
  const policy = decision.action === 'skip' ? undefined : decision.policy;
  if (policy) {
    const refused =
      decision.action === 'rotate'
        ? await previewOwnership(ctx, app, policy.secretName)
        : secretHeldByAnotherApp({ app, policy, vault: (await previewOwner(ctx, policy.secretName)) ?? {} });
    if (refused) return entry(app, 'failed', refused.code, refused.reason);
  }
  return decisionEntry(app, decision, true);
}

/** An app that needs a closer look: in a dry run its decision, else its reconciliation under its lock. */
export async function reconcileApp(ctx: RunContext, app: AppView): Promise<Reconciled> {
  try {
    if (ctx.dryRun) return { entry: await dryRunEntry(ctx, app) };
    return await underLock(ctx, app);
  } catch (err) {
    ctx.log('app failed', { appId: app.appId, error: describeError(err) });
    return { entry: errorEntry(app, err) };
  }
}

async function underLock(ctx: RunContext, listed: AppView): Promise<Reconciled> {
  const { locks } = ctx.services;
  // An HTTP run waits for a held lock no longer than its time budget lasts.
  const budgetLeft = ctx.budget ? ctx.budget.deadline.getTime() - ctx.clock.now().getTime() : Infinity;
  const waitMs = Math.max(0, Math.min(ctx.settings.lockWaitSeconds * 1000, budgetLeft));
  const lock = locks ? await locks.acquire(listed.appId, waitMs) : undefined;
  // Contract §7: a held lock means skipped, whatever the app's state; the holder (or, once a dead holder's lease
  // lapses within a minute, the next run) reports it.
  if (locks && !lock)
    return { entry: entry(listed, 'skipped', 'locked-by-another-run', 'locked by another run') };
  try {
    // Re-gather and re-decide inside the lock: another run may have just rotated this app.
    const state = await gatherApp(ctx, listed.appId);
    if (!state)
      return {
        entry: entry(
          listed,
          'failed',
          'app-not-found',
          'not found: the app registration was deleted during the run',
        ),
      };
    return await reconcileState({ ...ctx, lockHeld: !!lock }, state);
  } finally {
    await lock?.release();
  }
}

/**
 * Before anything is written to the app's Key Vault secret: the secret must be this app's (contract §8). Returns
 * the failed entry when it is not. Extension point: checks that need I/O (signing in with a hand-kept secret's
 * value to adopt it) belong here, next to the pure ones.
 */
async function checkSecretOwnership(
  _ctx: StepContext,
  state: AppState & { policy: { ok: true; policy: AppPolicy } },
): Promise<AppReport | undefined> {
  const found = secretHeldByAnotherApp({ app: state.app, policy: state.policy.policy, vault: state.vault! });
  return found && entry(state.app, 'failed', found.code, found.reason);
}

/** Fresh state → sweep → decide → rotate or retire → the entry. */
async function reconcileState(ctx: StepContext, state: AppState): Promise<Reconciled> {
  const { app, policy } = state;
  const now = ctx.clock.now();
  if (!state.vault || !policy.ok)
    return {
      entry: decisionEntry(app, decide({ app, policy, vault: undefined, now, force: ctx.force }), false),
    };
  const refused = await checkSecretOwnership(ctx, { ...state, policy });
  if (refused) return { entry: refused };

  const start: Rotation = {
    app,
    vault: state.vault,
    policy: policy.policy,
    notes: [],
    orphansRemoved: [],
    retired: [],
  };
  const swept = await sweepOrphans(ctx, start);
  const orphans = swept.orphansRemoved.length ? { orphansRemoved: swept.orphansRemoved } : {};
  const { servicePrincipal, servicePrincipalUnknown } = state;
  const decision = decide({
    app: swept.app,
    policy,
    vault: swept.vault,
    now,
    force: ctx.force,
    servicePrincipal,
    servicePrincipalUnknown,
  });
  if (decision.action === 'skip') return { entry: { ...decisionEntry(app, decision, false), ...orphans } };
  if (decision.action === 'fail') return refusedEntry(ctx, app, decision, policy.policy, orphans);
  if (decision.action === 'up-to-date') {
    const r = await retireSuperseded(ctx, { ...swept, current: decision.current });
    const e = decisionEntry(app, decision, false);
    return {
      entry: {
        ...e,
        ...orphans,
        ...(r.retired.length ? { retiredKeyIds: r.retired } : {}),
        ...(r.notes.length ? { reason: [e.reason, ...r.notes].join('; ') } : {}),
      },
    };
  }
  // §8: the secret must be this app's before a credential is made; the steps check again around the write.
  const owned = await asSecretOwner(
    ctx,
    swept.app,
    policy.policy.secretName,
    (vault) => runSteps(ctx, { ...swept, vault, current: decision.current }, ROTATION_STEPS),
    state.vault,
  );
  if ('locked' in owned)
    return { entry: { ...entry(app, 'skipped', 'locked-by-another-run', owned.locked), ...orphans } };
  if ('refused' in owned) {
    ctx.log('secret ownership refused', { appId: app.appId, reason: owned.refused.reason });
    return { entry: { ...entry(app, 'failed', owned.refused.code, owned.refused.reason), ...orphans } };
  }
  return rotationEntry(ctx, swept.app, decision, owned.done, orphans);
}

/**
 * A due app refused before any change (no service principal, two-secret limit): its owners are told, since only
 * they can fix it. A service principal Graph could not confirm is a passing fault, reported like an error, not mailed.
 */
function refusedEntry(
  ctx: StepContext,
  app: AppView,
  decision: Decision,
  policy: AppPolicy,
  orphans: { orphansRemoved?: string[] },
): Reconciled {
  const report = { ...decisionEntry(app, decision, false), ...orphans };
  // Said in the run's log as well: the timer's log is where an operator sees a refusal repeated run after run.
  ctx.log('app failed', { appId: app.appId, code: decision.code, reason: decision.reason });
  if (decision.code === 'service-principal-unknown') return { entry: report };
  const outcome: RotationOutcome = {
    ok: false,
    reason: decision.reason,
    retiredKeyIds: [],
    supersededKeyIds: [],
    notes: [],
  };
  return { entry: report, changed: { app, report, outcome, notify: policy.notify } };
}

function rotationEntry(
  ctx: StepContext,
  app: AppView,
  decision: Decision,
  r: Rotation,
  orphans: { orphansRemoved?: string[] },
): Reconciled {
  // Cut by an HTTP run's time budget (its new credential already removed): a queue worker rotates it.
  if (r.cutByBudget && ctx.budget)
    return { entry: { ...handedOffEntry(app, ctx.budget.requeue(app)), ...orphans } };
  const outcome: RotationOutcome = r.failed
    ? { ok: false, reason: r.failed, retiredKeyIds: [], supersededKeyIds: [], notes: r.notes }
    : {
        ok: true,
        keyId: r.created?.keyId,
        credentialName: r.created?.displayName ?? undefined,
        expiresOn: r.created?.endDateTime,
        secretUri: r.stored?.id,
        retiredKeyIds: r.retired,
        ...(r.revoked?.length ? { revokedKeyIds: r.revoked } : {}),
        supersededKeyIds: decision.current ? [decision.current.keyId] : [],
        notes: r.notes,
      };
  const report: AppReport = r.failed
    ? { ...entry(app, 'failed', 'rotation-failed', [r.failed, ...r.notes].join('; ')), ...orphans }
    : {
        appId: app.appId,
        displayName: app.displayName,
        action: 'rotated',
        keyId: outcome.keyId,
        expiresOn: outcome.expiresOn,
        secretUri: outcome.secretUri,
        retiredKeyIds: outcome.retiredKeyIds,
        reason: [decision.reason, ...r.notes].join('; '),
        code: decision.code,
        ...orphans,
      };
  ctx.log(report.action === 'rotated' ? 'rotated' : 'rotation failed', {
    appId: app.appId,
    keyId: report.keyId,
    reason: report.reason,
  });
  return { entry: report, changed: { app, report, outcome, notify: r.policy.notify } };
}
