// The notification step's last act for each rotation: once its notice went out to every recipient, or what was
// not sent is held in the pending store, the notice=owed tag of its Key Vault version is cleared (notice-tag.ts).
import pLimit from 'p-limit';
import { describeError } from '../errors.js';
import type { RunDeps } from '../rotation/context.js';
import { secretTags } from '../rotation/protocol.js';
import type { ChangedApp } from '../rotation/reconcile.js';
import type { NotifiableApp } from './digest.js';

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
  const limit = pLimit(RETAG_CONCURRENCY);
  const told = [...items].filter(([item, c]) => {
    if (!c.outcome?.ok || !c.outcome.keyId || !c.report.secretUri) return false;
    return held || (recipientsByApp.get(item) ?? []).every((a) => sent.has(a.toLowerCase()));
  });
  let failed = 0;
  await Promise.all(
    told.map(([, c]) =>
      limit(async () => {
        const { keyId, credentialName, noticeRunId } = c.outcome!;
        const tags = secretTags(c.app, { keyId: keyId!, displayName: credentialName }, noticeRunId ?? runId);
        await vault.retag(c.report.secretUri!, tags).catch((err: unknown) => {
          failed++;
          deps.log('could not mark a notice as told', { appId: c.app.appId, error: describeError(err) });
        });
      }),
    ),
  );
  if (failed)
    notes.push(
      `${failed} notice(s) went out but could not be marked as told in Key Vault; a later run may tell them again`,
    );
}
