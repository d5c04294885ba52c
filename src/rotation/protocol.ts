// The rotation protocol for one app, as named steps (contract.md §3, §7):
//   sweepOrphans → makeRoom → createCredential → proveCredential → storeSecret → (notify, by the run) → retireSuperseded
// Each step can be repeated by a later run: a crash between steps leaves state the next run recognises
// (an orphan credential, a superseded one), never a secret outside Key Vault.
import { randomUUID } from 'node:crypto';
import { AmbiguousWriteError, type GraphApi, type NewPassword } from '../azure/graph.js';
import { proveSecret, type Identity } from '../azure/identity.js';
import { vaultTag, type Vault, type VaultDetail } from '../azure/vault.js';
import { describeError, errorInfo } from '../errors.js';
import type { Settings } from '../settings.js';
import {
  ROTATOR_PREFIX,
  findOrphans,
  planCapacity,
  planRetirement,
  type AppView,
  type Credential,
  type Decision,
} from './checks.js';
import type { AppPolicy } from './policy.js';

const DAY = 86_400_000;
/** addPassword tries when outcomes stay unknown; a credential from an unresolved last try is swept as an orphan. */
const ADD_PASSWORD_TRIES = 4;

export interface StepContext {
  settings: Settings;
  graph: GraphApi;
  vault: Vault;
  identity: Identity;
  runId: string;
  now: () => Date;
  lockHeld: boolean;
  log: (msg: string, fields?: Record<string, unknown>) => void;
}

export interface RotationOutcome {
  ok: boolean;
  keyId?: string;
  credentialName?: string;
  expiresOn?: string;
  secretUri?: string;
  retiredKeyIds: string[];
  supersededKeyIds: string[];
  notes: string[];
  reason?: string;
}

/** Step: remove rotator-made credentials whose secret never reached Key Vault (a crashed or failed earlier run). */
export async function sweepOrphans(
  ctx: StepContext,
  app: AppView,
  vault: VaultDetail,
): Promise<{ app: AppView; removed: string[] }> {
  const orphans = findOrphans(app, vault, ctx.now(), {
    lockHeld: ctx.lockHeld,
    verifyTimeoutSeconds: ctx.settings.verifyTimeoutSeconds,
  });
  const removed: string[] = [];
  for (const o of orphans) {
    await ctx.graph.removePassword(app.id, o.keyId);
    removed.push(o.keyId);
    ctx.log('removed orphan credential (its secret never reached Key Vault)', {
      appId: app.appId,
      keyId: o.keyId,
    });
  }
  return {
    app: { ...app, passwordCredentials: app.passwordCredentials.filter((c) => !removed.includes(c.keyId)) },
    removed,
  };
}

/** Step: on apps limited to two passwords, free the rotator's own oldest non-current slot. */
export async function makeRoom(
  ctx: StepContext,
  app: AppView,
  current: Credential | undefined,
): Promise<{ removed: string[] } | { refuse: string }> {
  const plan = planCapacity(app, current);
  if ('refuse' in plan) return plan;
  for (const c of plan.free) await ctx.graph.removePassword(app.id, c.keyId);
  return { removed: plan.free.map((c) => c.keyId) };
}

const isLifetimeRefusal = (err: unknown) => {
  const { status, message } = errorInfo(err);
  return status === 400 && /lifetime|policy/i.test(message);
};

/**
 * Step: addPassword. Its secret is shown once and the call has no idempotency key, so an unknown outcome is
 * resolved by looking: a credential with this attempt's unique name that we hold no secret for is removed, then
 * the call is made once more. At most one new credential per app per run.
 */
export async function createCredential(
  ctx: StepContext,
  app: AppView,
  policy: AppPolicy,
): Promise<{ created: NewPassword; note?: string }> {
  const displayName = `${ROTATOR_PREFIX} ${ctx.now().toISOString().slice(0, 10)} ${randomUUID().slice(0, 8)}`;
  const attempt = async (days: number) => {
    const endDateTime = new Date(ctx.now().getTime() + days * DAY);
    // A short outage answers several calls in a row with 503 or a lost connection: each unknown outcome is resolved
    // by looking (and removing what landed) before the next try, so retrying never leaves a second credential.
    for (let tries = 1; ; tries++) {
      try {
        return await ctx.graph.addPassword(app.id, { displayName, endDateTime });
      } catch (err) {
        if (!(err instanceof AmbiguousWriteError) || tries >= ADD_PASSWORD_TRIES) throw err;
        const fresh = await ctx.graph.getApplication(app.appId);
        for (const c of fresh?.passwordCredentials ?? []) {
          if (c.displayName === displayName) await ctx.graph.removePassword(app.id, c.keyId);
        }
      }
    }
  };
  try {
    return { created: await attempt(policy.lifetimeDays) };
  } catch (err) {
    if (!isLifetimeRefusal(err)) throw err;
    // Tenant app-management policy caps password lifetime: retry once with its maximum (contract §7).
    const max = (await ctx.graph.passwordLifetimeMaxDays()) ?? 89;
    const days = Math.min(max, policy.lifetimeDays);
    const created = await attempt(days);
    let note = `lifetime shortened from ${policy.lifetimeDays} to ${days} days by the tenant's credential lifetime policy`;
    if (days <= policy.renewBeforeDays)
      note += `; that is within the renewal window of ${policy.renewBeforeDays} days, so lower rotation:renewBeforeDays or RENEW_BEFORE_DAYS`;
    return { created, note };
  }
}

/** Step: prove the new secret by signing in as the app with it, waiting out replication. */
export async function proveCredential(ctx: StepContext, app: AppView, created: NewPassword) {
  return proveSecret(
    ctx.settings,
    ctx.identity.tenantId,
    app.appId,
    created.secretText,
    ctx.settings.verifyTimeoutSeconds * 1000,
  );
}

/** Step: store the secret as a new Key Vault version: value = secret text only, dates = the credential's. */
export async function storeSecret(ctx: StepContext, app: AppView, policy: AppPolicy, created: NewPassword) {
  return ctx.vault.store(policy.secretName, created.secretText, {
    notBefore: new Date(created.startDateTime),
    expiresOn: new Date(created.endDateTime),
    tags: {
      appId: app.appId,
      keyId: created.keyId,
      appObjectId: app.id,
      displayName: vaultTag(app.displayName),
      credentialName: vaultTag(created.displayName ?? ''),
      rotatedBy: ROTATOR_PREFIX,
      runId: ctx.runId,
    },
  });
}

/** Compensation: a credential whose secret is not safely in Key Vault is removed again. */
async function compensate(ctx: StepContext, app: AppView, created: NewPassword): Promise<string> {
  try {
    await ctx.graph.removePassword(app.id, created.keyId);
    return 'removed the new credential again';
  } catch (err) {
    return `could not remove the new credential ${created.keyId} (${describeError(err)}); the next run removes it as an orphan`;
  }
}

/** Step: remove rotator-made credentials superseded longer than RETIRE_AFTER_DAYS (never a person's). */
export async function retireSuperseded(
  ctx: StepContext,
  app: AppView,
  vault: VaultDetail,
  current: Credential | undefined,
) {
  const retired: string[] = [];
  const notes: string[] = [];
  for (const c of planRetirement(app, vault, current, ctx.now(), ctx.settings.retireAfterDays)) {
    try {
      await ctx.graph.removePassword(app.id, c.keyId);
      retired.push(c.keyId);
    } catch (err) {
      notes.push(`could not retire ${c.keyId}: ${describeError(err)}`);
    }
  }
  return { retired, notes };
}

/** create → prove → store → retire for an app that is due; failures compensate and say why. */
export async function rotate(
  ctx: StepContext,
  app: AppView,
  vault: VaultDetail,
  decision: Decision & { policy: AppPolicy },
): Promise<RotationOutcome> {
  const notes: string[] = [];
  const fail = (reason: string): RotationOutcome => ({
    ok: false,
    reason,
    retiredKeyIds: [],
    supersededKeyIds: [],
    notes,
  });

  const room = await makeRoom(ctx, app, decision.current);
  if ('refuse' in room) return fail(room.refuse);
  const appNow = {
    ...app,
    passwordCredentials: app.passwordCredentials.filter((c) => !room.removed.includes(c.keyId)),
  };
  if (room.removed.length)
    notes.push(`removed superseded ${room.removed.join(', ')} to make room (two-secret limit)`);

  let created: NewPassword;
  try {
    const result = await createCredential(ctx, appNow, decision.policy);
    created = result.created;
    if (result.note) notes.push(result.note);
  } catch (err) {
    const info = errorInfo(err);
    if (info.status === 403) {
      return fail(
        `Graph refused to add a secret (403 ${info.code ?? ''}): the rotator's identity is not an owner of this app` +
          (ctx.settings.scope === 'tagged'
            ? ' and lacks Application.ReadWrite.All'
            : '; make it an owner or remove the app from scope'),
      );
    }
    return fail(`could not add a new client secret: ${describeError(err)}`);
  }
  const secrets = [created.secretText];
  ctx.log('created credential', { appId: app.appId, keyId: created.keyId });

  const proof = await proveCredential(ctx, app, created);
  if (!proof.ok) {
    const undo = await compensate(ctx, app, created);
    return fail(
      `the new secret did not work within VERIFY_TIMEOUT_SECONDS=${ctx.settings.verifyTimeoutSeconds} ` +
        `(${proof.attempts} sign-in attempts; last: ${proof.reason ?? 'unknown'}); ${undo}`,
    );
  }
  ctx.log('proved credential', {
    appId: app.appId,
    keyId: created.keyId,
    attempts: proof.attempts,
    ms: proof.elapsedMs,
  });

  let stored;
  try {
    stored = await storeSecret(ctx, app, decision.policy, created);
  } catch (err) {
    const info = errorInfo(err);
    const why =
      info.status === 409
        ? `Key Vault secret ${decision.policy.secretName} is deleted but recoverable: recover or purge it, or set rotation:secretName`
        : info.status === 403
          ? `Key Vault denied writing ${decision.policy.secretName} (${describeError(err, secrets)}): grant the rotator Key Vault Secrets Officer`
          : `Key Vault did not store the new secret: ${describeError(err, secrets)}`;
    // An unknown outcome may still have stored it: look before undoing, so a stored secret never loses its credential.
    const definite = info.status !== undefined && info.status < 500;
    if (!definite) {
      const after = await ctx.vault.view(decision.policy.secretName).catch(() => undefined);
      if (after?.storedKeyIds.has(created.keyId)) {
        stored = { id: after.latestId ?? '', version: '' };
      } else if (!after) {
        return fail(
          `${why}; Key Vault is unreachable, so the new credential ${created.keyId} is left for the next run's orphan sweep`,
        );
      }
    }
    if (!stored) return fail(`${why}; ${await compensate(ctx, app, created)}`);
  }
  ctx.log('stored secret', { appId: app.appId, keyId: created.keyId, secretUri: stored.id });

  const newCred: Credential = {
    keyId: created.keyId,
    displayName: created.displayName,
    startDateTime: created.startDateTime,
    endDateTime: created.endDateTime,
  };
  const after: VaultDetail = {
    storedKeyIds: new Set([...vault.storedKeyIds, created.keyId]),
    latestKeyId: created.keyId,
    latestId: stored.id,
  };
  const retire = await retireSuperseded(
    ctx,
    { ...appNow, passwordCredentials: [...appNow.passwordCredentials, newCred] },
    after,
    newCred,
  );
  notes.push(...retire.notes);
  return {
    ok: true,
    keyId: created.keyId,
    credentialName: created.displayName ?? undefined,
    expiresOn: created.endDateTime,
    secretUri: stored.id,
    retiredKeyIds: retire.retired,
    supersededKeyIds: decision.current ? [decision.current.keyId] : [],
    notes,
  };
}
