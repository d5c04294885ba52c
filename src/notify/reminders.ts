// REMIND_UNMANAGED: apps outside the rotation scope are never changed, but their owners are reminded when a
// client secret or certificate is about to expire. Reminders go out on every full run (the timer runs daily) until
// the owner renews the credential.
import type { GraphApi } from '../azure/graph.js';
import { carriesScopeTag, type AppView, type Credential } from '../rotation/checks.js';
import type { Settings } from '../settings.js';
import type { NotifiableApp } from './digest.js';
import { DAY_MS } from '../util/ids.js';

export type Expiring = NonNullable<NotifiableApp['expiring']>;

/**
 * The credentials of one kind worth a reminder: those ending within `windowDays` from now, or that ended less than
 * `windowDays` ago (a recent outage is still news; an old leftover is not). None when a credential of the same kind
 * stays valid beyond the window: the owner has renewed already.
 */
function expiringOfKind(
  creds: readonly Credential[],
  kind: 'secret' | 'certificate',
  now: Date,
  windowDays: number,
): Expiring {
  const t = now.getTime();
  const horizon = t + windowDays * DAY_MS;
  const ends = (c: Credential) => Date.parse(c.endDateTime);
  if (creds.some((c) => ends(c) > horizon)) return [];
  return creds
    .filter((c) => ends(c) <= horizon && ends(c) > t - windowDays * DAY_MS)
    .sort((a, b) => ends(a) - ends(b))
    .map((c) => ({ kind, keyId: c.keyId, displayName: c.displayName, endDateTime: c.endDateTime }));
}

/** What of this app expires soon (client secrets and certificates judged separately); empty when nothing. */
export function expiringCredentials(app: AppView, now: Date, windowDays: number): Expiring {
  return [
    ...expiringOfKind(app.passwordCredentials, 'secret', now, windowDays),
    ...expiringOfKind(app.keyCredentials ?? [], 'certificate', now, windowDays),
  ];
}

/**
 * Every app of the tenant outside the rotation scope with something expiring soon. The scope is worked out here
 * (owned: the rotator's owned apps; tagged: the tag), not taken from a report, since a report of a fanned-out or
 * --app run lists only some of the apps in scope. Apps in `alsoInScope` (appIds, lower case) are never reminded.
 */
export async function findReminders(
  graph: GraphApi,
  settings: Pick<Settings, 'scope' | 'tag' | 'renewBeforeDays'>,
  rotatorObjectId: string,
  alsoInScope: ReadonlySet<string>,
  now: Date,
): Promise<Array<{ app: AppView; expiring: Expiring }>> {
  const tagged = (app: AppView) => carriesScopeTag(app, settings.tag);
  const owned = new Set<string>();
  if (settings.scope === 'owned') {
    for await (const page of graph.applicationPages({ ownedBy: rotatorObjectId }))
      for (const app of page) owned.add(app.appId.toLowerCase());
  }
  const inScope = (app: AppView) => {
    const id = app.appId.toLowerCase();
    if (alsoInScope.has(id)) return true;
    return settings.scope === 'owned' ? owned.has(id) && tagged(app) : tagged(app);
  };
  const out: Array<{ app: AppView; expiring: Expiring }> = [];
  for await (const page of graph.applicationPages('all')) {
    for (const app of page) {
      if (inScope(app)) continue;
      const expiring = expiringCredentials(app, now, settings.renewBeforeDays);
      if (expiring.length) out.push({ app, expiring });
    }
  }
  return out;
}
