// After a run: tell the owners of every app that was rotated or failed, one digest per recipient.
// A notification failure never undoes a rotation; it is reported, and the run goes on.
import { Mailer, mailOperationId } from '../azure/mail.js';
import type { ChangedApp, Logger, Services } from '../rotation/engine.js';
import { isRotatorMade } from '../rotation/checks.js';
import type { Report } from '../rotation/report.js';
import type { Settings } from '../settings.js';
import { buildDigests, ownerAddress, type NotifiableApp, type OwnerObject } from './digest.js';
import { renderDigest } from './render.js';

const DAY = 86_400_000;

export function notificationsConfigured(settings: Settings): boolean {
  return !!(settings.emailSender && (settings.acsEndpoint || settings.acsConnectionString));
}

/** Owners that came back with neither mail nor userPrincipalName: Graph's limited-information shape. */
const unreadable = (o: OwnerObject) =>
  (o['@odata.type'] ?? '').endsWith('.user') && !o.mail && !o.userPrincipalName && !o.displayName;

export async function notifyOwners(
  settings: Settings,
  services: Services,
  report: Report,
  changed: readonly ChangedApp[],
  log: Logger,
  now: () => Date = () => new Date(),
): Promise<string[]> {
  if (!notificationsConfigured(settings)) {
    return [
      'notifications are off (set ACS_ENDPOINT or ACS_CONNECTION_STRING, and EMAIL_SENDER, to email owners)',
    ];
  }
  if (changed.length === 0) return [];
  const notes: string[] = [];
  const owners = await services.graph.ownersOf(changed.map((c) => c.app.id));
  if ([...owners.values()].some((list) => list.some(unreadable))) {
    notes.push(
      "owners' email addresses could not be read (the rotator's identity lacks the Graph permission User.ReadBasic.All); " +
        'owners were not emailed, tag and NOTIFY_ALSO recipients were',
    );
  }
  const items = new Map<NotifiableApp, ChangedApp>();
  for (const c of changed) {
    const superseded = c.app.passwordCredentials.filter((p) => c.outcome?.supersededKeyIds.includes(p.keyId));
    const item: NotifiableApp = {
      appId: c.app.appId,
      displayName: c.app.displayName,
      action: c.report.action === 'rotated' ? 'rotated' : 'failed',
      keyId: c.report.keyId,
      credentialName: c.outcome?.credentialName,
      expiresOn: c.report.expiresOn,
      secretUri: c.report.secretUri,
      oldKeyIds: superseded.map((p) => p.keyId),
      oldSecretRetiresOn: superseded.some(isRotatorMade)
        ? new Date(now().getTime() + settings.retireAfterDays * DAY).toISOString()
        : undefined,
      reason: c.report.action === 'failed' ? c.report.reason : undefined,
      ownerAddresses: (owners.get(c.app.id) ?? []).map(ownerAddress).filter((a): a is string => !!a),
      tagRecipients: c.notify,
    };
    items.set(item, c);
  }
  const plan = buildDigests([...items.keys()], settings.notifyAlso);
  for (const u of plan.unreachable)
    notes.push(
      `nobody could be told that ${u.appId} failed: it has no owner with an address, no rotation:notify tag, and NOTIFY_ALSO is empty`,
    );

  const mailer = new Mailer(
    {
      endpoint: settings.acsEndpoint,
      connectionString: settings.acsEndpoint ? undefined : settings.acsConnectionString,
      sender: settings.emailSender!,
    },
    services.credential,
    { log: (line) => log(line) },
  );
  const sent = new Set<string>();
  for (const digest of plan.digests) {
    const message = renderDigest(digest, {
      runId: report.runId,
      generatedAt: now(),
      tenantId: services.identity?.tenantId,
    });
    const result = await mailer.send(digest.to, message, mailOperationId(report.runId, digest.to));
    if (result.status === 'sent') sent.add(digest.to.toLowerCase());
    else notes.push(`email to ${digest.to} was not sent: ${result.error ?? 'unknown error'}`);
  }
  for (const [item, c] of items) {
    const to = (plan.recipientsByApp.get(item) ?? []).filter((a) => sent.has(a.toLowerCase()));
    if (to.length) c.report.notified = to;
  }
  return notes;
}
