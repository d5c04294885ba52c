// The rotation protocol for one app, as named steps (contract.md §3, §7), each with one signature
// `(ctx, rotation) => rotation`:
//   sweepOrphans → (decide, in reconcile) → makeRoom → createCredential → proveCredential → storeSecret
//   → (notify, by the run) → retireSuperseded
// A step returns the rotation unchanged when an earlier step failed, and each can be repeated by a later run: a
// crash between steps leaves state the next run recognises (an orphan credential, a superseded one), never a
// secret outside Key Vault.
import { randomUUID } from 'node:crypto';
import { AmbiguousWriteError, type NewPassword } from '../azure/graph.js';
import { proveSecret, type ProofResult } from '../azure/identity.js';
import { vaultTag, type StoredVersion, type Vault, type VaultDetail } from '../azure/vault.js';
import { describeError, errorInfo } from '../errors.js';
import {
  ROTATOR_PREFIX,
  findOrphans,
  planCapacity,
  planRetirement,
  type AppView,
  type Credential,
} from './checks.js';
import type { RunContext } from './context.js';
import { compensate } from './compensate.js';
import { confirmStored, recheckOwnership } from './ownership.js';
import type { AppPolicy } from './policy.js';
import { DAY_MS } from '../util/ids.js';
import { NOTICE_OWED, NOTICE_TAG, notificationsConfigured } from '../notify/notice-tag.js';

/** addPassword tries when outcomes stay unknown; a credential from an unresolved last try is swept as an orphan. */
const ADD_PASSWORD_TRIES = 4;

export interface StepContext extends RunContext {
  /** This run holds the app's lock: orphans of any age are its to remove. */
  lockHeld: boolean;
}

/** One app's rotation as it goes through the steps. */
export interface Rotation {
  /** The app's credentials as they are now (after removals; with the new one once it is stored). */
  app: AppView;
  vault: VaultDetail;
  policy: AppPolicy;
  /** The current secret: the one being replaced, then (once stored) the new one. */
  current?: Credential;
  /** The secret this rotation replaces (what the owners are told is superseded). */
  replaced?: Credential;
  notes: string[];
  orphansRemoved: string[];
  retired: string[];
  /** Of `retired`, the credentials an emergency run revoked before they expired or were superseded long enough. */
  revoked?: string[];
  created?: NewPassword;
  stored?: StoredVersion;
  /** Why the rotation stopped; set by the step that failed (after its compensation). */
  failed?: string;
  /** The proof was cut by the run's time budget (its credential removed): a queue worker should try again. */
  cutByBudget?: boolean;
}

export type Step = (ctx: StepContext, r: Rotation) => Promise<Rotation>;

const vaultOf = (ctx: StepContext): Vault => ctx.services.vault!;
const without = (app: AppView, keyIds: readonly string[]): AppView => ({
  ...app,
  passwordCredentials: app.passwordCredentials.filter((c) => !keyIds.includes(c.keyId)),
});

/** Step: remove rotator-made credentials whose secret never reached Key Vault (a crashed or failed earlier run). */
export const sweepOrphans: Step = async (ctx, r) => {
  const orphans = findOrphans(r.app, r.vault, ctx.clock.now(), {
    lockHeld: ctx.lockHeld,
    verifyTimeoutSeconds: ctx.settings.verifyTimeoutSeconds,
  });
  const removed: string[] = [];
  for (const o of orphans) {
    await ctx.services.graph.removePassword(r.app.id, o.keyId);
    removed.push(o.keyId);
    ctx.log('removed orphan credential (its secret never reached Key Vault)', {
      appId: r.app.appId,
      keyId: o.keyId,
    });
  }
  return { ...r, app: without(r.app, removed), orphansRemoved: [...r.orphansRemoved, ...removed] };
};

/** Step: on apps limited to two passwords, free the rotator's own oldest non-current slot. */
export const makeRoom: Step = async (ctx, r) => {
  if (r.failed) return r;
  const plan = planCapacity(r.app, r.current);
  if ('refuse' in plan) return { ...r, failed: plan.refuse };
  for (const c of plan.free) await ctx.services.graph.removePassword(r.app.id, c.keyId);
  const removed = plan.free.map((c) => c.keyId);
  if (removed.length === 0) return r;
  const note = `removed superseded ${removed.join(', ')} to make room (two-secret limit)`;
  return { ...r, app: without(r.app, removed), notes: [...r.notes, note] };
};

const isLifetimeRefusal = (err: unknown) => {
  const { status, message } = errorInfo(err);
  return status === 400 && /lifetime|policy/i.test(message);
};

/**
 * addPassword. Its secret is shown once and the call has no idempotency key, so an unknown outcome is resolved by
 * looking: a credential with this attempt's unique name that we hold no secret for is removed, then the call is
 * made once more. At most one new credential per app per run.
 */
async function addPassword(ctx: StepContext, app: AppView, displayName: string, days: number) {
  const { graph } = ctx.services;
  const endDateTime = new Date(ctx.clock.now().getTime() + days * DAY_MS);
  // A short outage answers several calls in a row with 503 or a lost connection: each unknown outcome is resolved
  // by looking (and removing what landed) before the next try, so retrying never leaves a second credential.
  for (let tries = 1; ; tries++) {
    try {
      return await graph.addPassword(app.id, { displayName, endDateTime });
    } catch (err) {
      if (!(err instanceof AmbiguousWriteError) || tries >= ADD_PASSWORD_TRIES) throw err;
      const fresh = await graph.getApplication(app.appId);
      for (const c of fresh?.passwordCredentials ?? []) {
        if (c.displayName === displayName) await graph.removePassword(app.id, c.keyId);
      }
    }
  }
}

/** The new credential, retried once with the tenant policy's maximum lifetime when refused for it (§7). */
async function addWithinPolicy(
  ctx: StepContext,
  r: Rotation,
): Promise<{ created: NewPassword; note?: string }> {
  const { policy } = r;
  const displayName = `${ROTATOR_PREFIX} ${ctx.clock.now().toISOString().slice(0, 10)} ${randomUUID().slice(0, 8)}`;
  try {
    return { created: await addPassword(ctx, r.app, displayName, policy.lifetimeDays) };
  } catch (err) {
    if (!isLifetimeRefusal(err)) throw err;
    const max = (await ctx.services.graph.passwordLifetimeMaxDays()) ?? 89;
    const days = Math.min(max, policy.lifetimeDays);
    const created = await addPassword(ctx, r.app, displayName, days);
    let note = `lifetime shortened from ${policy.lifetimeDays} to ${days} days by the tenant's credential lifetime policy`;
    if (days <= policy.renewBeforeDays)
      note += `; that is within the renewal window of ${policy.renewBeforeDays} days, so lower rotation:renewBeforeDays or RENEW_BEFORE_DAYS`;
    return { created, note };
  }
}

/** Step: add the new password credential. */
export const createCredential: Step = async (ctx, r) => {
  if (r.failed || r.created) return r;
  try {
    const { created, note } = await addWithinPolicy(ctx, r);
    ctx.log('created credential', { appId: r.app.appId, keyId: created.keyId });
    return { ...r, created, notes: note ? [...r.notes, note] : r.notes };
  } catch (err) {
    const info = errorInfo(err);
    if (info.status !== 403)
      return { ...r, failed: `could not add a new client secret: ${describeError(err)}` };
    const fix =
      ctx.settings.scope === 'tagged'
        ? ' and lacks Application.ReadWrite.All'
        : '; make it an owner or remove the app from scope';
    return {
      ...r,
      failed: `Graph refused to add a secret (403 ${info.code ?? ''}): the rotator's identity is not an owner of this app${fix}`,
    };
  }
};

/** The sign-in errors that mean "not replicated yet" (contract §8): a proof cut while seeing them may yet succeed. */
const REPLICATION_SIGNALS = new Set(['AADSTS7000215', 'AADSTS700016']);

/** When the proof stops waiting: VERIFY_TIMEOUT_SECONDS from now, or the run's time budget if that comes first. */
function proofDeadline(ctx: StepContext): { deadline: Date; byBudget: boolean } {
  const verify = ctx.clock.now().getTime() + ctx.settings.verifyTimeoutSeconds * 1000;
  const budget = ctx.budget?.deadline.getTime();
  return budget !== undefined && budget < verify
    ? { deadline: new Date(budget), byBudget: true }
    : { deadline: new Date(verify), byBudget: false };
}

/** Why the proof failed, in words: a sign-in error waiting cannot cure is named by its AADSTS code (§8). */
function proofFailure(ctx: StepContext, proof: ProofResult): string {
  const last = proof.reason ?? 'unknown';
  if (proof.code && !REPLICATION_SIGNALS.has(proof.code))
    return `Entra refused to sign in with the new secret (${proof.code}), which waiting cannot cure: ${last}`;
  return (
    `the new secret did not work within VERIFY_TIMEOUT_SECONDS=${ctx.settings.verifyTimeoutSeconds} ` +
    `(${proof.attempts} sign-in attempts; last: ${last})`
  );
}

/** Step: prove the new secret by signing in as the app with it, waiting out replication. */
export const proveCredential: Step = async (ctx, r) => {
  if (r.failed || !r.created || r.stored) return r;
  const { deadline, byBudget } = proofDeadline(ctx);
  const proof = await proveSecret(ctx.settings, ctx.identity.tenantId, r.app.appId, r.created.secretText, {
    deadline,
    clock: ctx.clock,
  });
  if (!proof.ok) {
    const undo = await compensate(ctx, r);
    // Still waiting for replication when the run's time was up: not a failure of the app, a worker finishes it.
    const cut = byBudget && (proof.code === undefined || REPLICATION_SIGNALS.has(proof.code));
    if (cut)
      return { ...r, failed: `the run's time budget ended during the proof; ${undo}`, cutByBudget: true };
    return { ...r, failed: `${proofFailure(ctx, proof)}; ${undo}` };
  }
  ctx.log('proved credential', {
    appId: r.app.appId,
    keyId: r.created.keyId,
    attempts: proof.attempts,
    ms: proof.elapsedMs,
  });
  if (proof.code !== 'AADSTS53003') return r;
  const note =
    'the new secret was accepted by Entra but token issuance was blocked by Conditional Access (AADSTS53003): ' +
    'counted as proof; the app itself cannot get tokens from here while that policy applies';
  return { ...r, notes: [...r.notes, note] };
};

/** Why Key Vault refused the new secret, in words that say what to do. */
function storeFailure(err: unknown, secretName: string, secrets: string[]): string {
  const info = errorInfo(err);
  if (info.status === 409)
    return `Key Vault secret ${secretName} is deleted but recoverable: recover or purge it, or set rotation:secretName`;
  if (info.status === 403)
    return `Key Vault denied writing ${secretName} (${describeError(err, secrets)}): grant the rotator Key Vault Secrets Officer`;
  return `Key Vault did not store the new secret: ${describeError(err, secrets)}`;
}

/**
 * The tags of a rotation's Key Vault version. With `noticeOwed` the version also records that its owners are still
 * to be told (src/notify/notice-tag.ts); the notification step writes the same tags without it.
 */
export function secretTags(
  app: Pick<AppView, 'appId' | 'id' | 'displayName'>,
  credential: { keyId: string; displayName?: string | null },
  runId: string,
  noticeOwed = false,
): Record<string, string> {
  return {
    appId: app.appId,
    keyId: credential.keyId,
    appObjectId: app.id,
    displayName: vaultTag(app.displayName),
    credentialName: vaultTag(credential.displayName ?? ''),
    rotatedBy: ROTATOR_PREFIX,
    runId,
    ...(noticeOwed ? { [NOTICE_TAG]: NOTICE_OWED } : {}),
  };
}

/** The secret as a new Key Vault version: value = secret text only, dates = the credential's. */
function writeSecret(ctx: StepContext, r: Rotation, created: NewPassword): Promise<StoredVersion> {
  return vaultOf(ctx).store(r.policy.secretName, created.secretText, {
    notBefore: new Date(created.startDateTime),
    expiresOn: new Date(created.endDateTime),
    tags: secretTags(r.app, created, ctx.runId, notificationsConfigured(ctx.settings)),
  });
}

/** Step: store the proven secret; from here on the new credential is the app's current secret. */
export const storeSecret: Step = async (ctx, r) => {
  if (r.failed || !r.created || r.stored) return r;
  const created = r.created;
  let stored: StoredVersion | undefined;
  try {
    stored = await writeSecret(ctx, r, created);
  } catch (err) {
    const why = storeFailure(err, r.policy.secretName, [created.secretText]);
    const { status } = errorInfo(err);
    // An unknown outcome may still have stored it: look before undoing, so a stored secret never loses its credential.
    if (status === undefined || status >= 500) {
      const after = await vaultOf(ctx)
        .view(r.policy.secretName)
        .catch(() => undefined);
      if (!after)
        return {
          ...r,
          failed: `${why}; Key Vault is unreachable, so the new credential ${created.keyId} is left for the next run's orphan sweep`,
        };
      if (after.storedKeyIds.has(created.keyId)) stored = { id: after.latestId ?? '', version: '' };
    }
    if (!stored) return { ...r, failed: `${why}; ${await compensate(ctx, r)}` };
  }
  ctx.log('stored secret', { appId: r.app.appId, keyId: created.keyId, secretUri: stored.id });
  const { secretText: _secret, ...credential } = created;
  return {
    ...r,
    stored,
    replaced: r.current,
    current: credential,
    app: { ...r.app, passwordCredentials: [...r.app.passwordCredentials, credential] },
    vault: {
      storedKeyIds: new Set([...r.vault.storedKeyIds, created.keyId]),
      latestKeyId: created.keyId,
      latestId: stored.id,
    },
  };
};

/**
 * Emergency (contract §8, revokeSuperseded): once the new secret is proven and stored, every other password
 * credential of the app goes, people's included. One that cannot be removed is named in the notes, not as revoked.
 */
async function revokeAllOthers(ctx: StepContext, r: Rotation): Promise<Rotation> {
  const revoked: string[] = [];
  const notes: string[] = [];
  for (const c of r.app.passwordCredentials.filter((p) => p.keyId !== r.created?.keyId)) {
    try {
      await ctx.services.graph.removePassword(r.app.id, c.keyId);
      revoked.push(c.keyId);
    } catch (err) {
      notes.push(`could not revoke ${c.keyId}: ${describeError(err)}; it still works`);
    }
  }
  if (revoked.length) ctx.log('revoked superseded credentials', { appId: r.app.appId, keyIds: revoked });
  return {
    ...r,
    app: without(r.app, revoked),
    retired: [...r.retired, ...revoked],
    revoked,
    notes: [...r.notes, ...notes],
  };
}

/**
 * Step: remove rotator-made credentials superseded longer than RETIRE_AFTER_DAYS (never a person's); in an
 * emergency run, every other credential once the new secret is stored (and none when it is not).
 */
export const retireSuperseded: Step = async (ctx, r) => {
  if (r.failed) return r;
  if (ctx.revokeSuperseded && r.stored) return revokeAllOthers(ctx, r);
  const retired: string[] = [];
  const notes: string[] = [];
  for (const c of planRetirement(r.app, r.vault, r.current, ctx.clock.now(), ctx.settings.retireAfterDays)) {
    try {
      await ctx.services.graph.removePassword(r.app.id, c.keyId);
      retired.push(c.keyId);
    } catch (err) {
      notes.push(`could not retire ${c.keyId}: ${describeError(err)}`);
    }
  }
  return {
    ...r,
    app: without(r.app, retired),
    retired: [...r.retired, ...retired],
    notes: [...r.notes, ...notes],
  };
};

/** The steps of a rotation of an app that is due, in protocol order (notification follows, by the run). */
export const ROTATION_STEPS: readonly Step[] = [
  makeRoom,
  createCredential,
  proveCredential,
  recheckOwnership,
  storeSecret,
  confirmStored,
  retireSuperseded,
];

export async function runSteps(ctx: StepContext, r: Rotation, steps: readonly Step[]): Promise<Rotation> {
  let state = r;
  for (const step of steps) state = await step(ctx, state);
  return state;
}
