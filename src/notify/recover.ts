// Notices of runs that died between storing a secret and telling its owners (notice-tag.ts): a whole-scope run finds
// them in its vault index (latest versions still tagged notice=owed, made by another run long enough ago that the
// run is over) and holds them in the pending store, so its digest, or the fanned-out run's last worker, sends them.
// Each is claimed first (claim.ts), so that of two runs at once only one takes it over.
import { describeError } from '../errors.js';
import type { RunContext, VaultIndex } from '../rotation/context.js';
import type { RunResult } from '../rotation/engine.js';
import { policyFor } from '../rotation/policy.js';
import type { ChangedApp } from '../rotation/reconcile.js';
import { claimNotice, NOTICE_TAKEOVER_MS } from './claim.js';
import { ownerAddress, type OwnerObject } from './digest.js';
import { NOTICE_OWED, NOTICE_OWNERS_UNTOLD_TAG, notificationsConfigured } from './notice-tag.js';
import { possibleRecipientLists } from './held.js';
import { notifyOwners, operationIdOf, runMailer } from './notify.js';

export { NOTICE_TAKEOVER_MS };

/** A latest version whose notice is owed by a run that is over. */
export interface OwedNotice {
  secretName: string;
  appId: string;
  keyId: string;
  runId?: string;
}

/** Owed notices in the index: not this run's, not of apps this run changed or queued, and old enough. */
export function owedNotices(
  index: VaultIndex,
  now: Date,
  runId: string,
  skipAppIds: ReadonlySet<string>,
): OwedNotice[] {
  const owed: OwedNotice[] = [];
  for (const [secretName, t] of index) {
    if (t.notice !== NOTICE_OWED || !t.appId || !t.keyId || t.runId === runId) continue;
    if (!t.createdOn || now.getTime() - t.createdOn.getTime() < NOTICE_TAKEOVER_MS) continue;
    if (skipAppIds.has(t.appId.toLowerCase())) continue;
    owed.push({ secretName, appId: t.appId, keyId: t.keyId, runId: t.runId });
  }
  return owed;
}

/** The notice of an owed rotation as its run would have told it, from Graph and Key Vault as they are now. */
async function recovered(
  ctx: RunContext,
  o: OwedNotice,
): Promise<{ c: ChangedApp; ownersUntold: boolean } | undefined> {
  const [app, vault] = await Promise.all([
    ctx.services.graph.getApplication(o.appId),
    ctx.services.vault!.view(o.secretName),
  ]);
  const credential = app?.passwordCredentials.find((c) => c.keyId === o.keyId);
  // Gone, or replaced since: there is nothing (or something newer) to tell.
  if (!app || !credential || vault.latestKeyId !== o.keyId || !vault.latestId) return undefined;
  const start = Date.parse(credential.startDateTime);
  const previous = app.passwordCredentials
    .filter((c) => vault.storedKeyIds.has(c.keyId) && Date.parse(c.startDateTime) < start)
    .sort((a, b) => Date.parse(b.startDateTime) - Date.parse(a.startDateTime))[0];
  const policy = policyFor(app, ctx.settings);
  const report = {
    appId: app.appId,
    displayName: app.displayName,
    action: 'rotated' as const,
    keyId: o.keyId,
    expiresOn: credential.endDateTime,
    secretUri: vault.latestId,
  };
  const c: ChangedApp = {
    app,
    report,
    notify: policy.ok ? policy.policy.notify : [],
    outcome: {
      ok: true,
      keyId: o.keyId,
      credentialName: credential.displayName ?? undefined,
      expiresOn: credential.endDateTime,
      secretUri: vault.latestId,
      retiredKeyIds: [],
      supersededKeyIds: previous ? [previous.keyId] : [],
      notes: [],
      noticeRunId: o.runId,
      storedAt: credential.startDateTime,
    },
  };
  return { c, ownersUntold: vault.latestTags?.[NOTICE_OWNERS_UNTOLD_TAG] === 'true' };
}

/**
 * The recipients an interrupted run reached before it died (killed between two sends of its digest). ACS holds
 * each message under the run's operation id for its recipients (notify.ts operationIdOf), and a message went to
 * one recipient or to several with identical digests: those groups are rebuilt from the run's owed notices and
 * looked up, so a recipient the run reached is not told again. A digest that also held other news (a failure, a
 * held notice) is not rebuilt exactly: its recipients are told again (at least once, never lost).
 */
async function findToldAlready(
  ctx: RunContext,
  changed: ChangedApp[],
  owners: ReadonlyMap<string, OwnerObject[]>,
  ownersUntold: ReadonlySet<ChangedApp>,
): Promise<void> {
  const recipients = new Map<ChangedApp, string[]>();
  /** Per interrupted run: each recipient's notices (keyIds), which is what made digests identical. */
  const digests = new Map<string, Map<string, string[]>>();
  for (const c of changed) {
    const runId = c.outcome?.noticeRunId;
    if (!runId) continue;
    // A run that could not read the app's owners told none of them (NOTICE_OWNERS_UNTOLD_TAG): its message to an
    // owner was about other apps, and looking it up would count this notice as told. The owners are told now.
    const ownerAddresses = ownersUntold.has(c) ? [] : (owners.get(c.app.id) ?? []).map(ownerAddress);
    const all = [...ownerAddresses, ...c.notify, ...ctx.settings.notifyAlso];
    const to = [...new Set(all.filter((a): a is string => !!a).map((a) => a.trim().toLowerCase()))];
    recipients.set(c, to);
    const byRecipient = digests.get(runId) ?? new Map<string, string[]>();
    digests.set(runId, byRecipient);
    for (const a of to) byRecipient.set(a, [...(byRecipient.get(a) ?? []), c.outcome!.keyId!]);
  }
  const mailer = runMailer(ctx);
  const reached = new Set<string>(); // `${runId}|${address}`
  for (const [runId, byRecipient] of digests) {
    await Promise.all(
      possibleRecipientLists(byRecipient).map(async (group) => {
        // A lookup ACS cannot answer throws: the takeover stops and the notices stay owed for a later run (holding
        // them as "not reached" would tell whoever the dead run reached again).
        const ok = await mailer.accepted(operationIdOf(runId, group));
        if (ok) for (const a of group) reached.add(`${runId}|${a}`);
      }),
    );
  }
  for (const [c, to] of recipients)
    c.toldAlready = to.filter((a) => reached.has(`${c.outcome!.noticeRunId}|${a}`));
}

/**
 * The notices whose apps' owners could be read, with those owners. Owners the dead run reached are found from them
 * (findToldAlready): a notice whose owners are unknown now stays owed for a later run, or they would be told again.
 */
async function ownersKnown<T extends { c: ChangedApp }>(
  ctx: RunContext,
  notices: T[],
): Promise<{ notices: T[]; owners: Map<string, OwnerObject[]> }> {
  if (notices.length === 0) return { notices, owners: new Map() };
  const owners = await ctx.services.graph.ownersOf(notices.map((n) => n.c.app.id)).catch((err: unknown) => {
    ctx.log('could not read the owners of notices to take over; they wait for a later run', {
      error: describeError(err),
    });
    return new Map<string, OwnerObject[]>();
  });
  const left = notices.filter((n) => !owners.has(n.c.app.id));
  if (left.length)
    ctx.log('owners unknown: notices left for a later run', { appIds: left.map((n) => n.c.app.appId) });
  return { notices: notices.filter((n) => owners.has(n.c.app.id)), owners };
}

/** claimNotice, where a failure leaves the notice owed (a later run takes it). */
function claimed(ctx: RunContext, o: OwedNotice): Promise<boolean> {
  return claimNotice(ctx, o).catch((err: unknown) => {
    ctx.log('could not claim an owed notice; it waits for a later run', {
      appId: o.appId,
      error: describeError(err),
    });
    return false;
  });
}

/**
 * A whole-scope run, before its own notification step: owed notices of runs that are over are held for this run's
 * digest (and their tags cleared once held). Best effort: what fails here stays owed for the next run.
 */
export async function recoverNotices(
  ctx: RunContext,
  result: RunResult,
  queuedAppIds: readonly string[],
): Promise<void> {
  if (ctx.dryRun || !result.wholeScope || !ctx.services.vault || !notificationsConfigured(ctx.settings))
    return;
  const index = await ctx.vaultIndex;
  if (!index) return;
  const skip = new Set(
    [...result.changed.map((c) => c.app.appId), ...queuedAppIds].map((a) => a.toLowerCase()),
  );
  const owed = owedNotices(index, ctx.clock.now(), ctx.runId, skip);
  if (owed.length === 0) return;
  try {
    const found = await Promise.all(owed.map(async (o) => ({ o, r: await recovered(ctx, o) })));
    const known = await ownersKnown(
      ctx,
      found.flatMap(({ o, r }) => (r ? [{ o, ...r }] : [])),
    );
    const claims = await Promise.all(known.notices.map(async (n) => ((await claimed(ctx, n.o)) ? [n] : [])));
    const taken = claims.flat();
    if (taken.length === 0) return;
    const changed = taken.map((n) => n.c);
    const untold = new Set(taken.filter((n) => n.ownersUntold).map((n) => n.c));
    await findToldAlready(ctx, changed, known.owners, untold);
    const notes = await notifyOwners(ctx, result.report, changed, {
      fullRun: false,
      holdOnly: true,
      owners: known.owners,
    });
    ctx.log('notices of earlier runs taken over', {
      notices: changed.length,
      runIds: [...new Set(owed.map((o) => o.runId))],
    });
    if (notes.length) result.report.notes = [...(result.report.notes ?? []), ...notes];
  } catch (err) {
    ctx.log('could not take over the notices of earlier runs; they stay owed for a later run', {
      error: describeError(err),
    });
  }
}
