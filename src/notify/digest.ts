// Who is told about what: one digest per recipient per run. Pure, no I/O, so the grouping rules are
// testable as tables and properties.

import { createHash } from 'node:crypto';
import type { OwnerObject } from '../azure/graph.js';
import { isEmailAddress } from '../util/email.js';

export { isEmailAddress };

export type { OwnerObject };

export interface NotifiableApp {
  appId: string;
  displayName: string;
  action: 'rotated' | 'failed' | 'reminder';
  /** New credential (rotated). */
  keyId?: string;
  /** New credential's displayName (never the hint). */
  credentialName?: string;
  /** ISO, new credential's end (rotated). */
  expiresOn?: string;
  /** Versioned Key Vault secret id (rotated). */
  secretUri?: string;
  /** What the new credential supersedes. */
  oldKeyIds?: string[];
  /** ISO date the superseded rotator-made secret will be removed (rotated). */
  oldSecretRetiresOn?: string;
  /** Secrets an emergency run revoked once the new one was stored (rotated): they no longer work. */
  revokedKeyIds?: string[];
  /** failed: why; reminder: what expires. */
  reason?: string;
  /** reminder: the credentials that expire soon. */
  expiring?: Array<{
    kind: 'secret' | 'certificate';
    keyId: string;
    displayName?: string | null;
    endDateTime: string;
  }>;
  /** ISO time of the run that first tried to send this notice, when an earlier run could not deliver it. */
  heldSince?: string;
  /** Recipients an interrupted earlier run already reached with this notice (recover.ts): not told again. */
  toldAlready?: string[];
  /** From ownerAddress(), already resolved. */
  ownerAddresses: string[];
  /** From the app's rotation:notify tag. */
  tagRecipients: string[];
}

export interface Digest {
  to: string;
  apps: NotifiableApp[];
}

export interface DigestPlan {
  digests: Digest[];
  /** Failed apps that reach nobody at all (no owner address, no tag recipient, no notifyAlso). */
  unreachable: NotifiableApp[];
  /** Every input app with the addresses its digests go to (empty when it reaches nobody), for the report. */
  recipientsByApp: Map<NotifiableApp, string[]>;
}

const USER_TYPE = '#microsoft.graph.user';

/** The address to write to for an owner: users only (service principals have no mailbox); `mail`, else a
 *  userPrincipalName that is an email address; undefined when neither (e.g. limited-information owners). */
export function ownerAddress(owner: OwnerObject): string | undefined {
  const type = owner['@odata.type'];
  if (type !== undefined && type.toLowerCase() !== USER_TYPE) return undefined;
  const mail = owner.mail?.trim();
  if (mail && isEmailAddress(mail)) return mail;
  const upn = owner.userPrincipalName?.trim();
  // A guest's UPN (alice_contoso.com#EXT#@tenant.onmicrosoft.com) is address-shaped but no mailbox.
  if (upn && !upn.toUpperCase().includes('#EXT#') && isEmailAddress(upn)) return upn;
  return undefined;
}

/** Recipients of one app, in order: owners, tag recipients, notifyAlso; deduplicated case-insensitively. */
function recipientsOf(app: NotifiableApp, notifyAlso: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const raw of [...app.ownerAddresses, ...app.tagRecipients, ...notifyAlso]) {
    const addr = raw.trim();
    // An invalid address would make ACS refuse the whole message, so it is dropped here.
    if (!isEmailAddress(addr)) continue;
    const key = addr.toLowerCase();
    if (seen.has(key) || app.toldAlready?.includes(key)) continue;
    seen.add(key);
    out.push(addr);
  }
  return out;
}

/** One digest per recipient (case-insensitive dedupe of addresses, stable order): each app goes to its owners and tag
 *  recipients; every app also goes to each `notifyAlso` address; a failed app with no owner/tag recipient still reaches
 *  notifyAlso (and is returned in `unreachable` when notifyAlso is empty too). */
export function buildDigests(apps: NotifiableApp[], notifyAlso: string[]): DigestPlan {
  const byKey = new Map<string, Digest>();
  const recipientsByApp = new Map<NotifiableApp, string[]>();
  const unreachable: NotifiableApp[] = [];
  for (const app of apps) {
    if (recipientsByApp.has(app)) continue; // the same object passed twice is listed once
    const recipients = recipientsOf(app, notifyAlso);
    const sentTo: string[] = [];
    for (const addr of recipients) {
      const key = addr.toLowerCase();
      let digest = byKey.get(key);
      if (!digest) {
        digest = { to: addr, apps: [] };
        byKey.set(key, digest);
      }
      digest.apps.push(app);
      sentTo.push(digest.to);
    }
    recipientsByApp.set(app, sentTo);
    if (sentTo.length === 0 && app.action === 'failed') unreachable.push(app);
  }
  return { digests: [...byKey.values()], unreachable, recipientsByApp };
}

/** ACS accepts at most 50 recipients (To, Cc and Bcc together) in one message. */
export const MAX_RECIPIENTS_PER_MESSAGE = 50;

/** One message and everyone it goes to, all in To. */
export interface SharedMessage<T> {
  to: string[];
  content: T;
}

/**
 * Contract §8 "Shared messages": recipients whose digests render identically share one message (at most `max` of
 * them per message), which keeps a large run within ACS's sending limits. Only identical digests are shared, so
 * nobody is listed an app they would not be told about alone. Order: first appearance.
 */
export function shareIdentical<T>(
  digests: readonly Digest[],
  render: (d: Digest) => T,
  keyOf: (content: T) => string,
  max = MAX_RECIPIENTS_PER_MESSAGE,
): Array<SharedMessage<T>> {
  const groups = new Map<string, SharedMessage<T>>();
  for (const d of digests) {
    const content = render(d);
    const key = keyOf(content);
    const group = groups.get(key);
    if (group) group.to.push(d.to);
    else groups.set(key, { to: [d.to], content });
  }
  const out: Array<SharedMessage<T>> = [];
  for (const { to, content } of groups.values())
    for (let i = 0; i < to.length; i += max) out.push({ to: to.slice(i, i + max), content });
  return out;
}

/**
 * shareIdentical keeping digests, not their renderings: grouped by a hash of the rendered parts, so a large run
 * (200 owners of 2,500 rotated apps: about 15 MB of HTML) holds only the messages being sent; the caller renders
 * each shared message again as it sends it (rendering is pure).
 */
export function shareIdenticalDigests(
  digests: readonly Digest[],
  renderParts: (d: Digest) => string[],
): Array<SharedMessage<Digest>> {
  const keyed = (d: Digest) => {
    const hash = createHash('sha256');
    for (const part of renderParts(d)) hash.update(part).update('\0');
    return { digest: d, key: hash.digest('base64') };
  };
  return shareIdentical(digests, keyed, (c) => c.key).map(({ to, content }) => ({
    to,
    content: content.digest,
  }));
}

const domainOf = (addr: string) => addr.slice(addr.lastIndexOf('@') + 1).toLowerCase();

/**
 * §8 Recipients: a rotation:notify address outside the allowed domains is not emailed (a tag must not be able to send
 * the vault's host, secret names and keyIds outside the organisation). `allowed` is NOTIFY_ALLOWED_DOMAINS (`['*']`:
 * any); when unset, the domains of NOTIFY_ALSO and of the app's own owners. Removes those addresses from the apps'
 * tagRecipients (in place: callers key maps by these objects) and returns one note per address held back.
 */
export function holdBackTagRecipients(
  apps: NotifiableApp[],
  notifyAlso: string[],
  allowed: string[] | undefined,
): string[] {
  if (allowed?.includes('*')) return [];
  const notes: string[] = [];
  for (const app of apps) {
    const domains = new Set(allowed ?? [...notifyAlso, ...app.ownerAddresses].map(domainOf));
    const out = app.tagRecipients.filter((a) => domains.has(domainOf(a.trim())));
    for (const a of app.tagRecipients.filter((x) => !out.includes(x)))
      notes.push(
        `${a} (rotation:notify of ${app.appId}) was not emailed: its domain is not allowed ` +
          (allowed
            ? 'by NOTIFY_ALLOWED_DOMAINS'
            : "(NOTIFY_ALLOWED_DOMAINS is unset: only the domains of NOTIFY_ALSO and of the app's owners)"),
      );
    app.tagRecipients = out;
  }
  return notes;
}
