// After a run: tell the owners of every app that was rotated or failed, one digest per recipient; with
// REMIND_UNMANAGED also remind owners of out-of-scope apps whose credentials expire soon. Digests that cannot be
// sent are held in Key Vault (pending.ts) and sent by the next run, merged into that run's digests.
// A notification failure never undoes a rotation; it is reported, and the run goes on.
import { Mailer, mailOperationId, type MailerOptions } from '../azure/mail.js';
import type { AppLock } from '../azure/locks.js';
import { describeError } from '../errors.js';
import type { RunDeps, Services } from '../rotation/context.js';
import type { ChangedApp } from '../rotation/reconcile.js';
import { isRotatorMade, type AppView } from '../rotation/checks.js';
import type { Report } from '../rotation/report.js';
import type { Settings } from '../settings.js';
import {
  buildDigests,
  isEmailAddress,
  ownerAddress,
  type Digest,
  holdBackTagRecipients,
  shareIdenticalDigests,
  type NotifiableApp,
  type OwnerObject,
} from './digest.js';
import {
  expireOld,
  MAX_PENDING_AGE_DAYS,
  noticeKey,
  PENDING_SECRET_NAME,
  pendingLockName,
  PendingStore,
  toNotifiable,
  type PendingItem,
} from './pending.js';
import { findReminders, type Expiring } from './reminders.js';
import { notificationsConfigured } from './notice-tag.js';
import { markTold } from './told.js';
import { renderDigest } from './render.js';
import pLimit from 'p-limit';
import { DAY_MS } from '../util/ids.js';

export const NOTIFICATIONS_OFF_NOTE =
  'notifications are off (set ACS_ENDPOINT or ACS_CONNECTION_STRING, and EMAIL_SENDER, to email owners)';
export const OWNERS_UNREADABLE_NOTE =
  "owners' email addresses could not be read (the rotator's identity lacks the Graph permission User.ReadBasic.All); " +
  'owners were not emailed, tag and NOTIFY_ALSO recipients were';

export { notificationsConfigured };

/** Digests sent at the same time. */
const MAIL_CONCURRENCY = 8;

export interface NotifyOptions {
  /** A run over the whole scope (no --app): only then can "not in the report" mean "outside the scope", so only
   *  then are REMIND_UNMANAGED reminders sent. Default true. */
  fullRun?: boolean;
  /** Hold every notice for the next digest instead of sending now (notices taken over from a run that died). */
  holdOnly?: boolean;
  /** Mailer tuning (wait budget, poll interval); the log is always the run's. */
  mailer?: Omit<MailerOptions, 'log'>;
}

/** Owners that came back with neither mail nor userPrincipalName: Graph's limited-information shape. */
const unreadable = (o: OwnerObject) =>
  (o['@odata.type'] ?? '').endsWith('.user') && !o.mail && !o.userPrincipalName && !o.displayName;

/** rotation:notify recipients of an out-of-scope app (its other rotation tags do not matter here). */
function notifyTag(app: AppView): string[] {
  return app.tags
    .filter((t) => t.startsWith('rotation:notify='))
    .flatMap((t) => t.slice('rotation:notify='.length).split(';'))
    .map((a) => a.trim())
    .filter(isEmailAddress);
}

interface HeldStore {
  store?: PendingStore;
  lock?: AppLock;
  items: PendingItem[];
  /** Why failed sends cannot be held this run (store unreadable, locked by another run). */
  unavailable?: string;
}

/** Takes the pending store for this run: its lock (when lock storage exists) and its items. */
async function openPending(
  settings: Settings,
  services: Services,
  now: Date,
  notes: string[],
): Promise<HeldStore> {
  if (!settings.keyVaultUrl) return { items: [], unavailable: 'no Key Vault is configured' };
  let lock: AppLock | undefined;
  if (services.locks) {
    try {
      // Two runs at once (timer and HTTP) would otherwise overwrite each other's held notices.
      lock = await services.locks.acquire(
        pendingLockName(settings.keyVaultUrl),
        settings.lockWaitSeconds * 1000,
      );
    } catch (err) {
      return { items: [], unavailable: `the pending-notifications lock failed: ${describeError(err)}` };
    }
    if (!lock)
      return {
        items: [],
        unavailable: 'another run was updating the pending notifications; held notices wait for the next run',
      };
  }
  // The run's own Vault adapter (its clock, its timeouts) when it has one.
  const store = new PendingStore(
    services.credential,
    { ...settings, keyVaultUrl: settings.keyVaultUrl },
    services.vault,
  );
  try {
    const { items, invalid } = await store.read();
    if (invalid)
      notes.push(`${invalid} pending notification(s) in ${PENDING_SECRET_NAME} were unreadable and dropped`);
    const { fresh, expired } = expireOld(items, now);
    if (expired.length)
      notes.push(
        `${expired.length} pending notification(s) older than ${MAX_PENDING_AGE_DAYS} days were dropped undelivered ` +
          `(for ${[...new Set(expired.map((e) => e.appId))].join(', ')})`,
      );
    return { store, lock, items: fresh };
  } catch (err) {
    await lock?.release();
    // Without reading it, writing would overwrite what earlier runs held: leave it alone this run.
    const why = `the pending notifications could not be read from Key Vault: ${describeError(err)}`;
    notes.push(`${why}; notices held by earlier runs wait for the next run`);
    return { items: [], unavailable: why };
  }
}

export async function notifyOwners(
  deps: RunDeps,
  report: Report,
  changed: readonly ChangedApp[],
  opts: NotifyOptions = {},
): Promise<string[]> {
  if (!notificationsConfigured(deps.settings)) return [NOTIFICATIONS_OFF_NOTE];
  const notes: string[] = [];
  const reminders = await gatherReminders(deps, report, opts, notes);
  const held = await openPending(deps.settings, deps.services, deps.clock.now(), notes);
  try {
    if (changed.length === 0 && reminders.length === 0 && held.items.length === 0) {
      if (held.store) await saveHeld(held, [], notes); // expired or unreadable items were dropped
      return notes;
    }
    const objectIds = [...changed.map((c) => c.app.id), ...reminders.map((r) => r.app.id)];
    const { addressesOf, ownersKnown } = await readOwners(deps, objectIds, notes);
    const items = new Map(changed.map((c) => [changedItem(deps, c, addressesOf(c.app.id)), c]));
    const current: NotifiableApp[] = [...items.keys(), ...reminders.map((r) => reminderItem(r, addressesOf))];

    const { notifyAlso, notifyAllowedDomains } = deps.settings;
    notes.push(...holdBackTagRecipients(current, notifyAlso, notifyAllowedDomains));
    const plan = buildDigests(current, deps.settings.notifyAlso);
    for (const u of plan.unreachable)
      notes.push(
        `nobody could be told that ${u.appId} failed: it has no owner with an address, no rotation:notify tag, and NOTIFY_ALSO is empty`,
      );
    // Where each notice came from, for holding it again if this run cannot send it either.
    const origin = new Map<NotifiableApp, { queuedAt: string; runId: string }>();
    const digests = mergeHeld(plan.digests, held.items, origin);
    const { sent, failures } = opts.holdOnly
      ? { sent: new Set<string>(), failures: new Map<string, string[]>() }
      : await sendDigests(deps, report.runId, digests, opts);
    for (const [item, c] of items) {
      const to = (plan.recipientsByApp.get(item) ?? []).filter((a) => sent.has(a.toLowerCase()));
      if (to.length) c.report.notified = to;
    }
    if (held.items.length) {
      const delivered = digests.filter(
        (d) => sent.has(d.to.toLowerCase()) && d.apps.some((a) => origin.has(a)),
      );
      deps.log(
        `notices held by earlier runs: ${held.items.length}, delivered now to ${delivered.length} recipient(s)`,
      );
    }
    const failedCount = [...failures.values()].reduce((n, l) => n + l.length, 0);
    if (failedCount) {
      const reasons = [...failures].map(([why, to]) => `${to.join(', ')}: ${why}`).join('; ');
      const fate = held.store
        ? 'they are held in Key Vault and sent by the next run'
        : `they could not be held for the next run (${held.unavailable})`;
      notes.push(`${failedCount} of ${digests.length} emails were not sent (${reasons}); ${fate}`);
    }
    const owed = stillOwed(digests, sent, origin, {
      queuedAt: deps.clock.now().toISOString(),
      runId: report.runId,
    });
    const heldNow = held.store ? await saveHeld(held, owed, notes) : false;
    // Unread owners were not told: those notices stay owed for a later whole-scope run to take over (recover.ts).
    const toldItems = new Map([...items].filter(([, c]) => ownersKnown(c.app.id)));
    await markTold(deps, report.runId, toldItems, plan.recipientsByApp, sent, heldNow, notes);
    return notes;
  } finally {
    await held.lock?.release();
  }
}

/** REMIND_UNMANAGED, on whole-scope runs: the apps outside the scope with something expiring soon. */
async function gatherReminders(
  deps: RunDeps,
  report: Report,
  opts: NotifyOptions,
  notes: string[],
): Promise<Array<{ app: AppView; expiring: Expiring }>> {
  if (!deps.settings.remindUnmanaged || opts.fullRun === false) return [];
  try {
    // findReminders works the scope out itself; the apps this report holds (with a streamed report, only the
    // changed ones) are excluded besides, in case one left the scope during the run.
    const reported = new Set(report.apps.map((a) => a.appId.toLowerCase()));
    const { graph } = deps.services;
    return await findReminders(graph, deps.settings, deps.identity.objectId, reported, deps.clock.now());
  } catch (err) {
    notes.push(`reminders for apps outside the rotation scope could not be gathered: ${describeError(err)}`);
    return [];
  }
}

/** The owners' addresses by app object id; owners that could not be read give none, `ownersKnown` false. */
async function readOwners(
  deps: RunDeps,
  objectIds: string[],
  notes: string[],
): Promise<{ addressesOf: (objectId: string) => string[]; ownersKnown: (objectId: string) => boolean }> {
  let owners = new Map<string, OwnerObject[]>();
  if (objectIds.length) {
    try {
      owners = await deps.services.graph.ownersOf(objectIds);
    } catch (err) {
      notes.push(`owners could not be read (${describeError(err)})`);
    }
  }
  const unknown = objectIds.filter((id) => !owners.has(id)).length;
  if (unknown)
    notes.push(
      `the owners of ${unknown} app(s) could not be read: they were not emailed (tag and NOTIFY_ALSO recipients were); ` +
        'a later run tells the owners of what was rotated',
    );
  if ([...owners.values()].some((list) => list.some(unreadable))) notes.push(OWNERS_UNREADABLE_NOTE);
  return {
    addressesOf: (objectId) => (owners.get(objectId) ?? []).map(ownerAddress).filter((a): a is string => !!a),
    ownersKnown: (objectId) => owners.has(objectId),
  };
}

/** The notice of a rotated or failed app. */
function changedItem(deps: RunDeps, c: ChangedApp, ownerAddresses: string[]): NotifiableApp {
  const superseded = c.app.passwordCredentials.filter((p) => c.outcome?.supersededKeyIds.includes(p.keyId));
  const storedAt = c.outcome?.storedAt ? Date.parse(c.outcome.storedAt) : deps.clock.now().getTime();
  const retiresOn = new Date(storedAt + deps.settings.retireAfterDays * DAY_MS);
  return {
    appId: c.app.appId,
    displayName: c.app.displayName,
    action: c.report.action === 'rotated' ? 'rotated' : 'failed',
    keyId: c.report.keyId,
    credentialName: c.outcome?.credentialName,
    expiresOn: c.report.expiresOn,
    secretUri: c.report.secretUri,
    oldKeyIds: superseded.map((p) => p.keyId),
    oldSecretRetiresOn: superseded.some(isRotatorMade) ? retiresOn.toISOString() : undefined,
    revokedKeyIds: c.outcome?.revokedKeyIds,
    reason: c.report.action === 'failed' ? c.report.reason : undefined,
    toldAlready: c.toldAlready,
    ownerAddresses,
    tagRecipients: c.notify,
  };
}

const reminderItem = (
  r: { app: AppView; expiring: Expiring },
  addressesOf: (objectId: string) => string[],
): NotifiableApp => ({
  appId: r.app.appId,
  displayName: r.app.displayName,
  action: 'reminder',
  expiring: r.expiring,
  ownerAddresses: addressesOf(r.app.id),
  tagRecipients: notifyTag(r.app),
});

/** The operation id of one message: per run and recipients, so a resend of the same message is recognised. */
export const operationIdOf = (runId: string, to: readonly string[]) =>
  mailOperationId(
    runId,
    to
      .map((a) => a.trim().toLowerCase())
      .sort()
      .join(','),
  );

/**
 * Sends every digest, recipients with identical digests sharing one message (§8); returns the recipients reached
 * (lower case) and the failures (error → recipients).
 */
/** The run's Mailer, on the run's clock and log. */
export function runMailer(deps: RunDeps, opts: NotifyOptions = {}): Mailer {
  const { settings } = deps;
  return new Mailer(
    {
      endpoint: settings.acsEndpoint,
      connectionString: settings.acsEndpoint ? undefined : settings.acsConnectionString,
      sender: settings.emailSender!,
    },
    deps.services.credential,
    { clock: deps.clock, ...opts.mailer, log: (line) => deps.log(line) },
  );
}

async function sendDigests(deps: RunDeps, runId: string, digests: Digest[], opts: NotifyOptions) {
  const mailer = runMailer(deps, opts);
  const sent = new Set<string>();
  const failures = new Map<string, string[]>();
  const context = { runId, generatedAt: deps.clock.now(), tenantId: deps.identity.tenantId };
  const render = (d: Digest) => renderDigest(d, context);
  // Grouped by a hash of each rendering and rendered again as sent: 2,500 rotated apps render to about 15 MB.
  const messages = shareIdenticalDigests(digests, (d) => Object.values(render(d)));
  // A few sends at a time: each waits on ACS's operation polling, and one message after another took longer than
  // the rotations themselves. Throttling waits are shared by the Mailer's budget, so parallel sends do not
  // multiply them.
  const sendLimit = pLimit(MAIL_CONCURRENCY);
  const sendOne = async ({ to, content }: (typeof messages)[number]) => {
    const result = await mailer.send(to, render(content), operationIdOf(runId, to));
    if (result.status === 'sent') return void to.forEach((a) => sent.add(a.toLowerCase()));
    const why = result.error ?? 'unknown error';
    failures.set(why, [...(failures.get(why) ?? []), ...to]);
  };
  await Promise.all(messages.map((m) => sendLimit(() => sendOne(m))));
  return { sent, failures };
}

/** What is still owed: every notice of every digest that was not sent, with its recipients. */
function stillOwed(
  digests: readonly Digest[],
  sent: ReadonlySet<string>,
  origin: ReadonlyMap<NotifiableApp, { queuedAt: string; runId: string }>,
  thisRun: { queuedAt: string; runId: string },
): PendingItem[] {
  const owed = new Map<NotifiableApp, PendingItem>();
  for (const d of digests) {
    if (sent.has(d.to.toLowerCase())) continue;
    for (const app of d.apps) {
      let p = owed.get(app);
      if (!p) {
        const { ownerAddresses: _o, tagRecipients: _t, heldSince: _h, toldAlready: _a, ...data } = app;
        p = { ...data, ...(origin.get(app) ?? thisRun), to: [] };
        owed.set(app, p);
      }
      p.to.push(d.to);
    }
  }
  return [...owed.values()];
}

/** This run's digests plus the held notices for each recipient (one message per recipient still): a held notice
 *  is left out where this run has newer news of the same thing for that recipient. */
function mergeHeld(
  digests: Digest[],
  heldItems: readonly PendingItem[],
  origin: Map<NotifiableApp, { queuedAt: string; runId: string }>,
): Digest[] {
  const out = [...digests];
  const byAddress = new Map(out.map((d) => [d.to.toLowerCase(), d]));
  const newestFirst = [...heldItems].sort((a, b) => Date.parse(b.queuedAt) - Date.parse(a.queuedAt));
  for (const p of newestFirst) {
    const app = toNotifiable(p);
    origin.set(app, { queuedAt: p.queuedAt, runId: p.runId });
    for (const to of p.to) {
      let d = byAddress.get(to.toLowerCase());
      if (!d) {
        d = { to, apps: [] };
        byAddress.set(to.toLowerCase(), d);
        out.push(d);
      }
      if (d.apps.some((a) => noticeKey(a) === noticeKey(app))) continue;
      d.apps.push(app);
    }
  }
  return out;
}

/** Writes what is still owed; false when Key Vault did not take it. */
async function saveHeld(held: HeldStore, items: PendingItem[], notes: string[]): Promise<boolean> {
  try {
    const { dropped } = await held.store!.write(items);
    if (dropped)
      notes.push(
        `${dropped} pending notification(s), the oldest, were dropped to keep ${PENDING_SECRET_NAME} under Key Vault's 25 KB limit`,
      );
    return true;
  } catch (err) {
    notes.push(
      `the pending notifications could not be saved to Key Vault (${describeError(err)}); ` +
        'what was held before is sent again by the next run, and what failed now is not held',
    );
    return false;
  }
}
