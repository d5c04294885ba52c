// Notifications that could not be sent (ACS throttling, an outage) are held in the one durable store the rotator
// always has, Key Vault, and sent by the next run. One secret holds them all, written in one set (a crash never
// leaves some notices in one place and some in another): app data and recipients, never a secret value (a
// notification never contains one). Stored gzipped (format v2) so that a tenant with several ACS-down days fits
// under Key Vault's 25 KB value limit; the oldest notices are dropped only beyond that.
import { gunzipSync, gzipSync } from 'node:zlib';
import type { TokenCredential } from '@azure/identity';
import { Vault } from '../azure/vault.js';
import type { Settings } from '../settings.js';
import { DAY_MS } from '../util/ids.js';
import { isEmailAddress, type NotifiableApp } from './digest.js';

export const PENDING_SECRET_NAME = 'entra-secret-rotator-pending-notifications';

/** The lock over one vault's held notices: rotators with other vaults may share the storage account. */
export const pendingLockName = (keyVaultUrl: string) => `${PENDING_SECRET_NAME}@${new URL(keyVaultUrl).host}`;
/** Key Vault refuses secret values over 25 KB. */
export const MAX_PENDING_BYTES = 25 * 1024;
/** A notice that could not be delivered for a month is dropped (said in a run note): its news is stale by then
 *  and an address ACS refuses for good must not be retried forever. */
export const MAX_PENDING_AGE_DAYS = 30;

/** One notice still owed to some recipients. */
export interface PendingItem extends Omit<
  NotifiableApp,
  'ownerAddresses' | 'tagRecipients' | 'heldSince' | 'toldAlready'
> {
  /** ISO time of the run that first tried to send it. */
  queuedAt: string;
  runId: string;
  /** Recipients it has not reached yet. */
  to: string[];
}

/** The document of the held notices: the whole stored value in v1 (the release before), gzipped inside v2. */
interface PendingFile {
  v: 1;
  items: PendingItem[];
  /** The run sending these items now (held.ts): if it dies before writing what is left, the next run looks up its
   *  messages before sending them again. One field for the whole store, not one per notice. */
  sending?: string;
}

/**
 * The stored value since v2: the v1 document, gzipped, base64 (a secret value is text). The format is said in the
 * value itself rather than in the secret's content type: a run reads only the value, and a value restored or set by
 * hand keeps what it is. Gzip because a held notice is mostly the same field names and addresses again: a rotated
 * notice to its owner and NOTIFY_ALSO costs 576 bytes as v1 JSON and about 144 in v2 (measured in
 * test/notify/pending.test.ts), so 25 KB holds 178 of them instead of 44. A previous release reading a v2 value
 * finds no items: it says "1 pending notification(s) ... unreadable and dropped" in its run notes.
 */
interface StoredValueV2 {
  v: 2;
  gz: string;
}

const isString = (v: unknown): v is string => typeof v === 'string';

/** A hand-made v2 value must not make a run inflate it without bound (25 KB of gzip can hold 25 MB). */
const MAX_INFLATED_BYTES = 16 * 1024 * 1024;

/** The v1 document a stored value holds (v1 as is, v2 inflated); undefined when it is neither. */
function documentOf(value: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  const { v, gz } = (parsed ?? {}) as Partial<StoredValueV2>;
  if (v !== 2) return parsed;
  if (!isString(gz)) return undefined;
  try {
    const inflated = gunzipSync(Buffer.from(gz, 'base64'), { maxOutputLength: MAX_INFLATED_BYTES });
    return JSON.parse(inflated.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** What the same notice is about: a newer one with the same key replaces an older one (a second failure of the
 *  same app, today's reminder for yesterday's). Rotations differ by keyId, so two rotations are both told. */
export function noticeKey(a: Pick<NotifiableApp, 'appId' | 'action' | 'keyId'>): string {
  return `${a.appId.toLowerCase()}|${a.action}|${a.action === 'rotated' ? (a.keyId ?? '') : ''}`;
}

export function toNotifiable(p: PendingItem): NotifiableApp {
  const { queuedAt, runId: _runId, to: _to, ...app } = p;
  return { ...app, heldSince: queuedAt, ownerAddresses: [], tagRecipients: [] };
}

const ACTIONS = new Set(['rotated', 'failed', 'reminder']);

const OPTIONAL_STRINGS = [
  'keyId',
  'credentialName',
  'expiresOn',
  'secretUri',
  'oldSecretRetiresOn',
  'reason',
];

/** The store is only written by the rotator, but a hand-edited value must not break every later run's digests. */
function validItem(x: unknown): x is PendingItem {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  const optional = (v: unknown) => v === undefined || isString(v);
  const expiring = (v: unknown) =>
    v === undefined ||
    (Array.isArray(v) &&
      v.every(
        (e: Record<string, unknown> | null) =>
          typeof e === 'object' &&
          e !== null &&
          (e.kind === 'secret' || e.kind === 'certificate') &&
          isString(e.keyId) &&
          isString(e.endDateTime),
      ));
  return (
    OPTIONAL_STRINGS.every((k) => optional(o[k])) &&
    [o.oldKeyIds, o.revokedKeyIds].every((v) => v === undefined || (Array.isArray(v) && v.every(isString))) &&
    expiring(o.expiring) &&
    isString(o.appId) &&
    isString(o.displayName) &&
    isString(o.action) &&
    ACTIONS.has(o.action) &&
    isString(o.queuedAt) &&
    !Number.isNaN(Date.parse(o.queuedAt)) &&
    isString(o.runId) &&
    Array.isArray(o.to) &&
    o.to.every(isString)
  );
}

/** Parses a stored value (v1 or v2); items that do not have the expected shape are dropped (counted in `invalid`). */
export function decodePending(value: string): { items: PendingItem[]; invalid: number; sending?: string } {
  const doc = documentOf(value);
  const raw = (doc as { items?: unknown } | undefined)?.items;
  if (!Array.isArray(raw)) return { items: [], invalid: 1 };
  const items: PendingItem[] = [];
  for (const x of raw) {
    if (!validItem(x)) continue;
    const to = x.to.filter(isEmailAddress);
    if (to.length) items.push({ ...x, to });
  }
  const { sending } = doc as { sending?: unknown };
  return { items, invalid: raw.length - items.length, sending: isString(sending) ? sending : undefined };
}

/** The stored value of these items: the v1 document gzipped (v2), or as is when that is not larger (an empty store,
 *  text that does not compress), so the store never holds fewer notices than the previous release did.
 *  Deterministic: the same items give the same value, which is how a run tells that nothing changed. */
export function storedValue(items: readonly PendingItem[], sending?: string): string {
  const doc = JSON.stringify({
    v: 1,
    items: [...items],
    ...(sending ? { sending } : {}),
  } satisfies PendingFile);
  const packed = JSON.stringify({
    v: 2,
    gz: gzipSync(doc, { level: 9 }).toString('base64'),
  } satisfies StoredValueV2);
  return Buffer.byteLength(packed) < Buffer.byteLength(doc) ? packed : doc;
}

/**
 * How many of `newestFirst` the store keeps: all when they fit in `maxBytes`, else the most of the newest that do
 * (the last resort). Compressed size is not a sum over items, so the count is bisected, the first probe where the
 * size, about linear in the count, says. Only counts that were measured to fit are returned; the empty list fits.
 */
export function countThatFits<T>(
  newestFirst: readonly T[],
  sizeOf: (list: readonly T[]) => number,
  maxBytes: number,
): number {
  const n = newestFirst.length;
  const whole = sizeOf(newestFirst);
  if (whole <= maxBytes) return n;
  let fits = 0;
  let tooMany = n;
  let probe = Math.floor((n * maxBytes) / whole);
  while (tooMany - fits > 1) {
    probe = Math.min(tooMany - 1, Math.max(fits + 1, probe));
    if (sizeOf(newestFirst.slice(0, probe)) <= maxBytes) fits = probe;
    else tooMany = probe;
    probe = Math.floor((fits + tooMany) / 2);
  }
  return fits;
}

/** The stored value under `maxBytes`: when everything does not fit even compressed, the newest items are kept. */
export function encodePending(
  items: readonly PendingItem[],
  maxBytes = MAX_PENDING_BYTES,
  sending?: string,
): { value: string; kept: PendingItem[]; dropped: number } {
  const newestFirst = [...items].sort((a, b) => Date.parse(b.queuedAt) - Date.parse(a.queuedAt));
  const count = countThatFits(newestFirst, (list) => Buffer.byteLength(storedValue(list, sending)), maxBytes);
  const keep = new Set(newestFirst.slice(0, count));
  // The items in their own order (the order they were given in when nothing is dropped).
  const kept = count === items.length ? [...items] : items.filter((i) => keep.has(i));
  return { value: storedValue(kept, sending), kept, dropped: items.length - kept.length };
}

/** Splits off the items older than the age limit. */
export function expireOld(
  items: readonly PendingItem[],
  now: Date,
  maxAgeDays = MAX_PENDING_AGE_DAYS,
): { fresh: PendingItem[]; expired: PendingItem[] } {
  const cutoff = now.getTime() - maxAgeDays * DAY_MS;
  const fresh: PendingItem[] = [];
  const expired: PendingItem[] = [];
  for (const i of items) (Date.parse(i.queuedAt) < cutoff ? expired : fresh).push(i);
  return { fresh, expired };
}

/** The pending notices in Key Vault, through the Vault adapter. Read once per run, written back only when they change. */
export class PendingStore {
  private readonly vault: Vault;
  /** The value as read, to tell whether a write is needed. */
  private readValue?: string;

  constructor(
    credential: TokenCredential,
    settings: Pick<Settings, 'keyVaultDisableChallengeVerification'> & { keyVaultUrl: string },
    vault?: Vault,
  ) {
    this.vault = vault ?? new Vault(credential, settings);
  }

  /** The pending items ([] when the secret does not exist yet) and the run marked as sending them; throws when
   *  Key Vault cannot be read. */
  async read(): Promise<{ items: PendingItem[]; invalid: number; sending?: string }> {
    this.readValue = await this.vault.value(PENDING_SECRET_NAME);
    return this.readValue === undefined ? { items: [], invalid: 0 } : decodePending(this.readValue);
  }

  /** Writes a new version when the content changed; nothing when it did not (or when it stays empty). `sending`:
   *  the run about to send these items. */
  async write(
    items: readonly PendingItem[],
    sending?: string,
  ): Promise<{ written: boolean; kept: PendingItem[]; dropped: number; bytes: number }> {
    const { value, kept, dropped } = encodePending(items, MAX_PENDING_BYTES, sending);
    const bytes = Buffer.byteLength(value);
    if (value === this.readValue || (this.readValue === undefined && items.length === 0))
      return { written: false, kept, dropped, bytes };
    await this.vault.store(PENDING_SECRET_NAME, value, {
      contentType:
        'application/json; entra-secret-rotator pending notifications, v1 or v2 (gzip+base64 in "gz"), no secret values',
      tags: { purpose: 'pending-notifications' },
    });
    this.readValue = value;
    return { written: true, kept, dropped, bytes };
  }
}
