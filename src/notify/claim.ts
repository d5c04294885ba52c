// Taking over an owed notice (recover.ts) is claimed first, so that two whole-scope runs at once (the timer and
// POST /api/rotate) never both take over the same one: the second would hold it again after the first had sent it,
// and its owners would be told twice. The claim is made under the app's lease, on the tags of the version itself
// (who claimed it and when), after re-reading them there. The notification step's retag (told.ts) clears the claim
// with the notice; a claimer that dies leaves its claim, which another run may take over after NOTICE_TAKEOVER_MS.
import type { RunContext } from '../rotation/context.js';
import { NOTICE_OWED, NOTICE_TAG } from './notice-tag.js';

/** A run still telling its owners is left alone this long after it stored a secret (a fan-out's workers included),
 *  and a run that claimed an owed notice is left alone this long after its claim. */
export const NOTICE_TAKEOVER_MS = 6 * 60 * 60_000;

export const CLAIMED_BY_TAG = 'noticeClaimedBy';
export const CLAIMED_AT_TAG = 'noticeClaimedAt';

/** How long a claim waits for the app's lease: a run holding it is rotating the app (its notice goes stale) or
 *  claiming this notice itself; either way this run leaves it. */
const CLAIM_WAIT_MS = 2_000;

/** The notice a run wants to take over: the latest version of `secretName` for the credential `keyId`. */
export interface NoticeToClaim {
  secretName: string;
  appId: string;
  keyId: string;
}

/** Whether the latest version's tags leave this notice to `runId` now: still owed, of this credential, and not
 *  claimed by another run recently. */
export function claimable(
  tags: Readonly<Record<string, string>> | undefined,
  keyId: string,
  runId: string,
  now: Date,
): boolean {
  if (!tags || tags[NOTICE_TAG] !== NOTICE_OWED || tags.keyId !== keyId) return false;
  const by = tags[CLAIMED_BY_TAG];
  if (!by || by === runId) return true;
  const at = Date.parse(tags[CLAIMED_AT_TAG] ?? '');
  return Number.isNaN(at) || now.getTime() - at >= NOTICE_TAKEOVER_MS;
}

/** Claims one owed notice for this run; false when another run has it, it is no longer owed, or it could not be
 *  claimed now (it stays owed for a later run). */
export async function claimNotice(ctx: RunContext, n: NoticeToClaim): Promise<boolean> {
  const { locks, vault } = ctx.services;
  if (!vault) return false;
  // Without lock storage (a CLI run) there is nothing to share a lease through: the re-read alone narrows the race.
  const lock = locks ? await locks.acquire(n.appId, CLAIM_WAIT_MS) : undefined;
  if (locks && !lock) return false;
  try {
    const now = ctx.clock.now();
    const latest = await vault.view(n.secretName);
    if (!latest.latestId || !claimable(latest.latestTags, n.keyId, ctx.runId, now)) return false;
    await vault.retag(latest.latestId, {
      ...latest.latestTags,
      [CLAIMED_BY_TAG]: ctx.runId,
      [CLAIMED_AT_TAG]: now.toISOString(),
    });
    return true;
  } finally {
    await lock?.release();
  }
}
