// Notifications that could not be sent (ACS throttling, an outage) are held in the one durable store the rotator
// always has, Key Vault, and sent by the next run. One secret holds them all as compact JSON: app data and
// recipients, never a secret value (a notification never contains one).
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

interface PendingFile {
  v: 1;
  items: PendingItem[];
  /** The run sending these items now (held.ts): if it dies before writing what is left, the next run looks up its
   *  messages before sending them again. One field for the whole store, not one per notice. */
  sending?: string;
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

const isString = (v: unknown): v is string => typeof v === 'string';
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
    (o.oldKeyIds === undefined || (Array.isArray(o.oldKeyIds) && o.oldKeyIds.every(isString))) &&
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

/** Parses the stored value; items that do not have the expected shape are dropped (counted in `invalid`). */
export function decodePending(value: string): { items: PendingItem[]; invalid: number; sending?: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return { items: [], invalid: 1 };
  }
  const raw = (parsed as { items?: unknown }).items;
  if (!Array.isArray(raw)) return { items: [], invalid: 1 };
  const items: PendingItem[] = [];
  for (const x of raw) {
    if (!validItem(x)) continue;
    const to = x.to.filter(isEmailAddress);
    if (to.length) items.push({ ...x, to });
  }
  const { sending } = parsed as { sending?: unknown };
  return { items, invalid: raw.length - items.length, sending: isString(sending) ? sending : undefined };
}

/** Compact JSON under `maxBytes`: when everything does not fit, the newest items are kept. */
export function encodePending(
  items: readonly PendingItem[],
  maxBytes = MAX_PENDING_BYTES,
  sending?: string,
): { value: string; kept: PendingItem[]; dropped: number } {
  const encode = (list: PendingItem[]) =>
    JSON.stringify({ v: 1, items: list, ...(sending ? { sending } : {}) } satisfies PendingFile);
  const all = [...items];
  let value = encode(all);
  if (Buffer.byteLength(value) <= maxBytes) return { value, kept: all, dropped: 0 };
  const newestFirst = [...items].sort((a, b) => Date.parse(b.queuedAt) - Date.parse(a.queuedAt));
  const kept: PendingItem[] = [];
  let size = Buffer.byteLength(encode([]));
  for (const item of newestFirst) {
    const add = Buffer.byteLength(JSON.stringify(item)) + (kept.length ? 1 : 0);
    if (size + add > maxBytes) continue; // a smaller, older item may still fit
    kept.push(item);
    size += add;
  }
  value = encode(kept);
  return { value, kept, dropped: items.length - kept.length };
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
  ): Promise<{ written: boolean; kept: PendingItem[]; dropped: number }> {
    const { value, kept, dropped } = encodePending(items, MAX_PENDING_BYTES, sending);
    if (value === this.readValue || (this.readValue === undefined && items.length === 0))
      return { written: false, kept, dropped };
    await this.vault.store(PENDING_SECRET_NAME, value, {
      contentType: 'application/json; entra-secret-rotator pending notifications (no secret values)',
      tags: { purpose: 'pending-notifications' },
    });
    this.readValue = value;
    return { written: true, kept, dropped };
  }
}
