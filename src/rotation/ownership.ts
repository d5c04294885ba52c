// Contract §8 "A Key Vault secret belongs to one app": whether this app may write its secret. Asked before the new
// credential is made (holding the app's and the secret name's locks and this run's claim on the name), again right
// before the write, and once more after it. A dry run asks the same question, without the locks.
import { proveSecret } from '../azure/identity.js';
import type { VaultDetail } from '../azure/vault.js';
import { describeError } from '../errors.js';
import { secretOwnership, type AppView, type Finding } from './checks.js';
import { compensate } from './compensate.js';
import type { RunContext } from './context.js';
// Types only: protocol.ts imports the steps below, so a value import back would be a cycle.
import type { Rotation, Step, StepContext } from './protocol.js';

export type OwnershipRefusal = Finding<'fail', 'secret-of-another-app' | 'secret-not-adoptable'>;

/** What Key Vault says about a secret's owner; undefined when there is no vault to ask. */
type OwnerView = Pick<VaultDetail, 'exists' | 'latestAppId' | 'latestId'>;

/**
 * This run's claim on a secret name: the first app that goes on to write it keeps it for the whole run, so two apps
 * of one run never both write one secret, with or without lock storage. Returns the other app when it was first.
 */
export function claimSecret(ctx: RunContext, appId: string, secretName: string): string | undefined {
  const key = secretName.toLowerCase();
  const holder = ctx.secretClaims.get(key);
  if (holder && holder !== appId.toLowerCase()) return holder;
  ctx.secretClaims.set(key, appId.toLowerCase());
  return undefined;
}

/** One sign-in as the app with the untagged secret's current value (no replication to wait for: it is old). */
async function signsInAs(ctx: RunContext, app: AppView, secretName: string): Promise<string | undefined> {
  let value: string | undefined;
  try {
    value = await ctx.services.vault!.value(secretName);
  } catch (err) {
    return `its value could not be read (${describeError(err)})`;
  }
  if (value === undefined) return undefined; // deleted since it was listed: nothing to overwrite
  const proof = await proveSecret(ctx.settings, ctx.identity.tenantId, app.appId, value, {
    deadline: ctx.clock.now(),
    clock: ctx.clock,
  });
  return proof.ok ? undefined : `its value does not sign in as this app (${proof.reason ?? 'refused'})`;
}

/** The refusal of writing `secretName` for this app, or undefined when the secret is this app's (or free). */
export async function ownershipRefusal(
  ctx: RunContext,
  app: AppView,
  secretName: string,
  vault: OwnerView,
): Promise<OwnershipRefusal | undefined> {
  const found = secretOwnership({ app, secretName, vault });
  if ('action' in found) return found;
  if (found.owned === 'adopt') {
    const why = await signsInAs(ctx, app, secretName);
    if (why)
      return {
        action: 'fail',
        code: 'secret-not-adoptable',
        reason:
          `Key Vault secret ${secretName} exists without an appId tag and ${why}, so it is not this app's secret; ` +
          'nothing was written. Give this app its own rotation:secretName',
      };
  }
  // Claimed last, in one synchronous step: an app refused above never keeps the name from its owner.
  const claimedBy = claimSecret(ctx, app.appId, secretName);
  if (claimedBy) return secretOwnership({ app, secretName, vault, claimedBy }) as OwnershipRefusal;
  if (found.owned === 'adopt')
    ctx.log('adopting an existing Key Vault secret (its value signs in as the app)', {
      appId: app.appId,
      secretName,
    });
  return undefined;
}

/** A dry run's answer: the same question on the run's vault index, or the secret's versions without one. */
export async function previewOwnership(
  ctx: RunContext,
  app: AppView,
  secretName: string,
): Promise<OwnershipRefusal | undefined> {
  const view = await previewOwner(ctx, secretName);
  return view && ownershipRefusal(ctx, app, secretName, view);
}

/** Who Key Vault says holds a secret, from the run's vault index, or the secret's versions without one. */
export async function previewOwner(ctx: RunContext, secretName: string): Promise<OwnerView | undefined> {
  const index = await ctx.vaultIndex;
  const entry = index?.get(secretName.toLowerCase());
  return index ? { exists: !!entry, latestAppId: entry?.appId } : await ctx.services.vault?.view(secretName);
}

export type Owned<T> = { done: T } | { refused: OwnershipRefusal } | { locked: string };

/**
 * Runs `write` as the owner of `secretName`: holding its lease (when there is lock storage), with this run's claim,
 * on a fresh view of the secret that says it is this app's. Nothing is called when it is not. `justRead` is the
 * view the caller read a moment ago: without lock storage there is no lease to read under, and reading again
 * would only repeat it (one Key Vault request per rotation), so it is used as it is.
 */
export async function asSecretOwner<T>(
  ctx: StepContext,
  app: AppView,
  secretName: string,
  write: (vault: VaultDetail) => Promise<T>,
  justRead?: VaultDetail,
): Promise<Owned<T>> {
  const { locks } = ctx.services;
  const lock = locks ? await locks.acquireSecret(secretName, ctx.settings.lockWaitSeconds * 1000) : undefined;
  if (locks && !lock) return { locked: `locked by another run (Key Vault secret ${secretName})` };
  try {
    const vault = (!locks && justRead) || (await ctx.services.vault!.view(secretName));
    const refused = await ownershipRefusal(ctx, app, secretName, vault);
    return refused ? { refused } : { done: await write(vault) };
  } finally {
    await lock?.release();
  }
}

const isOurs = (appId: string | undefined, r: Rotation) => appId?.toLowerCase() === r.app.appId.toLowerCase();

/** Step, right before the write: the secret is still as it was when found to be this app's (or tagged ours). */
export const recheckOwnership: Step = async (ctx, r) => {
  if (r.failed || !r.created || r.stored) return r;
  const name = r.policy.secretName;
  const fresh = await ctx.services.vault!.view(name).catch(() => undefined);
  // Unreachable: the write will fail too, and storeSecret says what to do then.
  if (!fresh || isOurs(fresh.latestAppId, r) || fresh.latestId === r.vault.latestId) return r;
  const undo = await compensate(ctx, r);
  return {
    ...r,
    failed: `Key Vault secret ${name} changed while the new secret was proven (its latest version is now another app's or a person's: appId ${fresh.latestAppId ?? 'none'}); nothing was written; ${undo}`,
  };
};

/** Step, right after the write: the latest version is the one just stored; else someone wrote over it. */
export const confirmStored: Step = async (ctx, r) => {
  if (r.failed || !r.created || !r.stored) return r;
  const name = r.policy.secretName;
  const after = await ctx.services.vault!.view(name).catch(() => undefined);
  // Unreadable now: the write itself succeeded, and removing a credential that may be in use would be worse.
  if (!after || after.latestKeyId === r.created.keyId) return r;
  const undo = await compensate(ctx, r);
  ctx.log('stored secret was overwritten at once by another writer', {
    appId: r.app.appId,
    secretName: name,
    latestAppId: after.latestAppId,
  });
  return {
    ...r,
    failed: `Key Vault secret ${name} was written by someone else right after this run stored the new secret (its latest version is not this app's: appId ${after.latestAppId ?? 'none'}); ${undo}`,
  };
};
