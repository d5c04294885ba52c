// After a run: tell the owners of every app that was rotated or failed, one digest per recipient; with
// REMIND_UNMANAGED also remind owners of out-of-scope apps whose credentials expire soon. Digests that cannot be
// sent are held in Key Vault (pending.ts) and sent by the next run, merged into that run's digests.
// A notification failure never undoes a rotation; it is reported, and the run goes on.
import { Mailer, mailOperationId, type MailerOptions } from '../azure/mail.js';
import { describeError } from '../errors.js';
import type { RunDeps } from '../rotation/context.js';
import type { ChangedApp } from '../rotation/reconcile.js';
import { isRotatorMade, type AppView } from '../rotation/checks.js';
import type { Report } from '../rotation/report.js';
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
import { mergeHeld, openPending, saveHeld, stillOwed } from './held.js';
import { findReminders, type Expiring } from './reminders.js';
import { notificationsConfigured } from './notice-tag.js';
import { markOwnersUntold, markTold } from './told.js';
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
  /** Owners already read, by app object id (the takeover reads them first, recover.ts): not read again. */
  owners?: ReadonlyMap<string, OwnerObject[]>;
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

export async function notifyOwners(
  deps: RunDeps,
  report: Report,
  changed: readonly ChangedApp[],
  opts: NotifyOptions = {},
): Promise<string[]> {
  if (!notificationsConfigured(deps.settings)) return [NOTIFICATIONS_OFF_NOTE];
  const notes: string[] = [];
  const reminders = await gatherReminders(deps, report, opts, notes);
  let mailer: Mailer | undefined;
  const held = await openPending(deps.settings, deps.services, deps.clock.now(), notes, {
    runId: report.runId,
    sending: !opts.holdOnly,
    accepted: (runId, to) => (mailer ??= runMailer(deps, opts)).accepted(operationIdOf(runId, to)),
  });
  try {
    if (changed.length === 0 && reminders.length === 0 && held.items.length === 0) {
      if (held.store) await saveHeld(held, [], notes); // expired or unreadable items were dropped
      return notes;
    }
    const objectIds = [...changed.map((c) => c.app.id), ...reminders.map((r) => r.app.id)];
    const { addressesOf, ownersKnown } = await readOwners(deps, objectIds, notes, opts.owners);
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
    const ownersUntold = [...items.values()].filter((c) => !ownersKnown(c.app.id));
    await markOwnersUntold(deps, report.runId, ownersUntold);
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

/**
 * The owners' addresses by app object id, read from Graph unless already `known`; owners that could not be read
 * give none, `ownersKnown` false.
 */
async function readOwners(
  deps: RunDeps,
  objectIds: string[],
  notes: string[],
  known: ReadonlyMap<string, OwnerObject[]> = new Map(),
): Promise<{ addressesOf: (objectId: string) => string[]; ownersKnown: (objectId: string) => boolean }> {
  const wanted = new Set(objectIds);
  const owners = new Map([...known].filter(([id]) => wanted.has(id)));
  const toRead = [...wanted].filter((id) => !owners.has(id));
  if (toRead.length) {
    try {
      for (const [id, list] of await deps.services.graph.ownersOf(toRead)) owners.set(id, list);
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
