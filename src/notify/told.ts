// The notification step's last act for each rotation: once its notice went out to every recipient, or what was
// not sent is held in the pending store, the notice=owed tag of its Key Vault version is cleared (notice-tag.ts).
import pLimit from 'p-limit';
import { describeError } from '../errors.js';
import type { RunDeps } from '../rotation/context.js';
import { secretTags } from '../rotation/protocol.js';
import type { ChangedApp } from '../rotation/reconcile.js';
import type { NotifiableApp } from './digest.js';
import { NOTICE_OWNERS_UNTOLD_TAG } from './notice-tag.js';

/** Key Vault writes at the same time (one per rotation told). */
const RETAG_CONCURRENCY = 8;

/**
 * Clears the owed-notice tag of every rotation whose notice is out (all its recipients reached) or held (`held`:
 * the pending store was saved). A notice neither out nor held keeps its tag, so the next run takes it over.
 */
export async function markTold(
  deps: RunDeps,
  runId: string,
  items: ReadonlyMap<NotifiableApp, ChangedApp>,
  recipientsByApp: ReadonlyMap<NotifiableApp, string[]>,
  sent: ReadonlySet<string>,
  held: boolean,
  notes: string[],
): Promise<void> {
  const { vault } = deps.services;
  if (!vault) return;
  const told = [...items]
    .filter(([item, c]) => {
      if (!c.outcome?.ok || !c.outcome.keyId || !c.report.secretUri) return false;
      return held || (recipientsByApp.get(item) ?? []).every((a) => sent.has(a.toLowerCase()));
    })
    .map(([, c]) => c);
  const failed = await retagAll(deps, runId, told, false);
  if (failed)
    notes.push(
      `${failed} notice(s) went out but could not be marked as told in Key Vault; a later run may tell them again`,
    );
}

/**
 * Rotations whose owners could not be read keep their owed notice, marked as untold to its owners
 * (NOTICE_OWNERS_UNTOLD_TAG): this run's messages to those owners, about other apps, must not count as this notice
 * told when a later run takes it over. Best effort: unmarked, the takeover looks the owners' messages up as before.
 */
export async function markOwnersUntold(
  deps: RunDeps,
  runId: string,
  changed: readonly ChangedApp[],
): Promise<void> {
  const owed = changed.filter((c) => c.outcome?.ok && c.outcome.keyId && c.report.secretUri);
  if (deps.services.vault && owed.length) await retagAll(deps, runId, owed, true);
}

/** Writes the tags of each rotation's version: notice cleared, or still owed and untold to its owners. */
async function retagAll(
  deps: RunDeps,
  runId: string,
  changed: readonly ChangedApp[],
  ownersUntold: boolean,
): Promise<number> {
  const vault = deps.services.vault!;
  const limit = pLimit(RETAG_CONCURRENCY);
  let failed = 0;
  await Promise.all(
    changed.map((c) =>
      limit(async () => {
        const { keyId, credentialName, noticeRunId } = c.outcome!;
        const credential = { keyId: keyId!, displayName: credentialName };
        const tags = secretTags(c.app, credential, noticeRunId ?? runId, ownersUntold);
        if (ownersUntold) tags[NOTICE_OWNERS_UNTOLD_TAG] = 'true';
        await vault.retag(c.report.secretUri!, tags).catch((err: unknown) => {
          failed++;
          const what = ownersUntold ? 'as untold to its owners' : 'as told';
          deps.log(`could not mark a notice ${what}`, { appId: c.app.appId, error: describeError(err) });
        });
      }),
    ),
  );
  return failed;
}
