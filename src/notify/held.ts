// The pending store as one run uses it (pending.ts holds the format): taken under its lock, its held notices merged
// into the run's digests, what is still owed written back. Exactly once across a crash: before a run sends held
// notices it marks the store with its run id; a run that finds another run's mark (that run died before writing
// what was left) first looks up that run's messages to those recipients, ACS holding each under an operation id
// derived from the run and its recipients (notify.ts operationIdOf), and drops what was accepted.
import pLimit from 'p-limit';
import type { AppLock } from '../azure/locks.js';
import { describeError } from '../errors.js';
import type { Services } from '../rotation/context.js';
import type { Settings } from '../settings.js';
import type { Digest, NotifiableApp } from './digest.js';
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

export interface HeldStore {
  store?: PendingStore;
  lock?: AppLock;
  items: PendingItem[];
  /** Why failed sends cannot be held this run (store unreadable, locked by another run). */
  unavailable?: string;
}

/** Whether ACS accepted a message of `runId` to exactly these recipients. Throws when ACS cannot say. */
export type AcceptedLookup = (runId: string, to: readonly string[]) => Promise<boolean>;

export interface OpenOptions {
  runId: string;
  /** This run sends the held notices (not a hold-only run): the store is marked with its run id first. */
  sending: boolean;
  accepted: AcceptedLookup;
}

/** Takes the pending store for this run: its lock (when lock storage exists) and its items. */
export async function openPending(
  settings: Settings,
  services: Services,
  now: Date,
  notes: string[],
  opts: OpenOptions,
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
  let step = 'read from Key Vault';
  try {
    const { items, invalid, sending } = await store.read();
    if (invalid)
      notes.push(`${invalid} pending notification(s) in ${PENDING_SECRET_NAME} were unreadable and dropped`);
    const { fresh, expired } = expireOld(items, now);
    if (expired.length)
      notes.push(
        `${expired.length} pending notification(s) older than ${MAX_PENDING_AGE_DAYS} days were dropped undelivered ` +
          `(for ${[...new Set(expired.map((e) => e.appId))].join(', ')})`,
      );
    step = 'checked against the messages of the run that was sending them (it stopped before it was done)';
    const left = sending && sending !== opts.runId ? await dropReached(fresh, sending, opts.accepted) : fresh;
    if (!opts.sending || left.length === 0) return { store, lock, items: left };
    step = 'marked as being sent by this run in Key Vault';
    const written = await store.write(left, opts.runId);
    if (written.dropped) notes.push(droppedNote(written));
    return { store, lock, items: written.kept };
  } catch (err) {
    await lock?.release();
    // Without reading (or marking) it, writing would overwrite what earlier runs held, or tell it twice after a
    // crash: leave it alone this run.
    const why = `the pending notifications could not be ${step}: ${describeError(err)}`;
    notes.push(`${why}; notices held by earlier runs wait for the next run`);
    return { items: [], unavailable: why };
  }
}

/** The last resort of the pending store (pending.ts encodePending): even compressed, not all notices fit. */
const droppedNote = (w: { kept: readonly PendingItem[]; dropped: number; bytes: number }) =>
  `${w.dropped} of ${w.dropped + w.kept.length} pending notification(s), the oldest, were dropped: even compressed ` +
  `they do not fit in ${PENDING_SECRET_NAME} under Key Vault's 25 KB limit (the ${w.kept.length} newest kept, ` +
  `${w.bytes} bytes)`;

/** Lookups of a dead run's messages at the same time. */
const LOOKUP_CONCURRENCY = 8;

/**
 * The held items without the recipients `runId` reached: it sent each recipient one message holding all of their
 * held notices (plus its own news), alone or shared with recipients whose digests were identical, so whose held
 * notices were the same. Those groups are rebuilt and looked up.
 */
async function dropReached(
  items: PendingItem[],
  runId: string,
  accepted: AcceptedLookup,
): Promise<PendingItem[]> {
  const keysOf = new Map<string, string[]>();
  for (const p of items)
    for (const a of p.to) keysOf.set(a.toLowerCase(), [...(keysOf.get(a.toLowerCase()) ?? []), noticeKey(p)]);
  const limit = pLimit(LOOKUP_CONCURRENCY);
  const reached = new Set<string>();
  await Promise.all(
    possibleRecipientLists(keysOf).map((to) =>
      limit(async () => {
        if (await accepted(runId, to)) for (const a of to) reached.add(a);
      }),
    ),
  );
  return items
    .map((p) => ({ ...p, to: p.to.filter((a) => !reached.has(a.toLowerCase())) }))
    .filter((p) => p.to.length > 0);
}

/**
 * The recipient lists a dead run's messages may have had, from each recipient's notices (keys): a message went to
 * one recipient, or to several with identical digests, so with the same notices. Recipients are grouped by their
 * notices, and each group gives the lists sharedBy it.
 */
export function possibleRecipientLists(noticesOf: ReadonlyMap<string, readonly string[]>): string[][] {
  const groups = new Map<string, string[]>();
  for (const [a, keys] of noticesOf) {
    const same = [...keys].sort().join('\n');
    groups.set(same, [...(groups.get(same) ?? []), a]);
  }
  return [...groups.values()].flatMap(sharedBy);
}

/** Up to this many recipients with the same notices, every subset of them is looked up. */
const MAX_SUBSET_RECIPIENTS = 6;

/**
 * The recipient lists a message of a dead run may have had, among recipients with the same notices: their digests
 * may also have held other news, so only some of them may have shared a message (NOTIFY_ALSO's digest holds every
 * app's news). Every subset of a small group, else the whole group and each recipient alone.
 */
function sharedBy(group: readonly string[]): string[][] {
  if (group.length > MAX_SUBSET_RECIPIENTS) return [[...group], ...group.map((a) => [a])];
  const subsets: string[][] = [];
  for (let mask = 1; mask < 1 << group.length; mask++) subsets.push(group.filter((_, i) => mask & (1 << i)));
  return subsets;
}

/** What is still owed: every notice of every digest that was not sent, with its recipients. */
export function stillOwed(
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
export function mergeHeld(
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

/** Writes what is still owed (and clears this run's sending mark); false when Key Vault did not take it. */
export async function saveHeld(held: HeldStore, items: PendingItem[], notes: string[]): Promise<boolean> {
  try {
    const written = await held.store!.write(items);
    if (written.dropped) notes.push(droppedNote(written));
    return true;
  } catch (err) {
    notes.push(
      `the pending notifications could not be saved to Key Vault (${describeError(err)}); ` +
        'what was held before is sent again by the next run unless this run reached it, and what failed now is not held',
    );
    return false;
  }
}
