// The only code that reads Graph and Key Vault to make a decision. Each function returns plain data for the pure
// checks in checks.ts; nothing here decides.
import type { VaultDetail } from '../azure/vault.js';
import { describeError } from '../errors.js';
import {
  carriesScopeTag,
  firstFinding,
  hasRotatorMade,
  skipChain,
  triageChain,
  type AppView,
  type VaultView,
} from './checks.js';
import type { RunContext } from './context.js';
import { policyFor, type PolicyResult } from './policy.js';

/** What reconcile decides on: the app as Graph has it now, its tag policy, and Key Vault's view of its secret. */
export interface AppState {
  app: AppView;
  policy: PolicyResult;
  /** Undefined when skipChain settles the app (invalid or disabled tags, no client secret): nothing to read. */
  vault?: VaultDetail;
  /** Whether the app has a service principal here; looked up only for apps that may be due (else undefined). */
  servicePrincipal?: boolean;
  /** Why Graph could not say whether an app that may be due has a service principal (§8: then nothing changes). */
  servicePrincipalUnknown?: string;
}

/** An app named by --app or a queue message, as Graph has it, or why it cannot be reconciled. */
export type Resolved =
  | { app: AppView }
  | { missing: string; code: 'app-not-found' | 'not-an-owner' | 'not-in-scope'; app?: AppView };

/** Scope membership for an app named by appId (a listed page is in scope by how it was listed). */
export async function resolveApp(
  ctx: Pick<RunContext, 'services' | 'settings' | 'identity'>,
  appId: string,
): Promise<Resolved> {
  const app = await ctx.services.graph.getApplication(appId);
  if (!app)
    return {
      code: 'app-not-found',
      missing: `not found: no app registration with appId ${appId} in the tenant`,
    };
  const { scope, tag } = ctx.settings;
  if (scope === 'owned' && !(await ctx.services.graph.isOwner(app.id, ctx.identity.objectId))) {
    return {
      app,
      code: 'not-an-owner',
      missing:
        "not an owner: the rotator's identity does not own this app registration, so it is outside ROTATION_SCOPE=owned (add the identity as an owner to enroll it)",
    };
  }
  if (!carriesScopeTag(app, tag))
    return {
      app,
      code: 'not-in-scope',
      missing: `not in scope: the app does not carry the tag ${tag} (ROTATION_TAG)`,
    };
  return { app };
}

/** The latest keyId of the app's secret by the run's vault index; read only for apps with rotator-made secrets. */
export async function indexedLatestKeyId(
  ctx: RunContext,
  app: AppView,
  policy: PolicyResult,
): Promise<string | undefined> {
  if (!policy.ok || !hasRotatorMade(app)) return undefined;
  return (await ctx.vaultIndex)?.get(policy.policy.secretName.toLowerCase())?.keyId;
}

/**
 * Key Vault's view for deciding without the lock (scan, dry run, hand-off): the vault index has the latest keyId;
 * without one (--app, or the listing failed) the app's own versions are read.
 */
export async function previewVault(ctx: RunContext, policy: PolicyResult): Promise<VaultView | undefined> {
  const index = await ctx.vaultIndex;
  if (index) {
    const latest = policy.ok ? index.get(policy.policy.secretName.toLowerCase())?.keyId : undefined;
    return { latestKeyId: latest, storedKeyIds: new Set(latest ? [latest] : []) };
  }
  return ctx.services.vault && policy.ok ? ctx.services.vault.view(policy.policy.secretName) : undefined;
}

/** Fresh state under the app's lock: Graph's app now, and every version of its Key Vault secret. */
export async function gatherApp(ctx: RunContext, appId: string): Promise<AppState | undefined> {
  const app = await ctx.services.graph.getApplication(appId);
  if (!app) return undefined;
  const policy = policyFor(app, ctx.settings);
  // An app the skip checks settle needs nothing from Key Vault.
  if (!policy.ok || firstFinding(skipChain, { app, policy })) return { app, policy };
  const [vault, sp] = await Promise.all([
    ctx.services.vault!.view(policy.policy.secretName),
    servicePrincipalBeforeChange(ctx, app, policy),
  ]);
  return { app, policy, vault, ...sp };
}

/**
 * §8 under the lock, before any change: the page's answer, or, when that lookup failed (a throttled or failing
 * $batch), the app's own read. An answer Graph still does not give is said (servicePrincipalUnknown), never taken
 * for "has one".
 */
async function servicePrincipalBeforeChange(
  ctx: RunContext,
  app: AppView,
  policy: PolicyResult,
): Promise<Pick<AppState, 'servicePrincipal' | 'servicePrincipalUnknown'>> {
  const known = await servicePrincipalOf(ctx, app, policy);
  if (known !== undefined || !mayBeDue(ctx, app, policy)) return { servicePrincipal: known };
  const key = app.appId.toLowerCase();
  try {
    const servicePrincipal = await ctx.services.graph.hasServicePrincipal(key);
    ctx.servicePrincipals?.set(key, Promise.resolve(servicePrincipal));
    return { servicePrincipal };
  } catch (err) {
    ctx.log('could not look up the service principal', { appId: app.appId, error: describeError(err) });
    return { servicePrincipalUnknown: describeError(err) };
  }
}

/** Graph's data alone says the app may need a new secret (so whether it can sign in matters). */
function mayBeDue(ctx: RunContext, app: AppView, policy: PolicyResult): boolean {
  const input = { app, policy, now: ctx.clock.now(), force: ctx.force };
  return !firstFinding(skipChain, input) && !!firstFinding(triageChain, input);
}

/** One lookup for many apps (Graph's `in` filters in one $batch); undefined per app when Graph could not answer. */
function lookUp(ctx: RunContext, appIds: string[]): Promise<Set<string> | undefined> {
  return Promise.resolve()
    .then(() => ctx.services.graph.appIdsWithServicePrincipal(appIds))
    .catch((err: unknown) => {
      // Not fatal here: the app is looked up again on its own under its lock, before any change (gatherApp).
      ctx.log('could not look up service principals', { apps: appIds.length, error: describeError(err) });
      return undefined;
    });
}

/**
 * §8, fed once per listed page: the service principals of the page's apps that may be due, in one batched Graph
 * call, remembered for the run so that preview and reconcile read them without another call.
 */
export function lookUpServicePrincipals(ctx: RunContext, apps: readonly AppView[]): void {
  const known = ctx.servicePrincipals;
  if (!known) return;
  const wanted = apps.filter(
    (app) => !known.has(app.appId.toLowerCase()) && mayBeDue(ctx, app, policyFor(app, ctx.settings)),
  );
  if (wanted.length === 0) return;
  const found = lookUp(
    ctx,
    wanted.map((a) => a.appId),
  );
  for (const { appId } of wanted) {
    const key = appId.toLowerCase();
    known.set(
      key,
      found.then((set) => set?.has(key)),
    );
  }
}

/** Whether a possibly due app has a service principal: from its page's lookup, else looked up alone. */
export function servicePrincipalOf(
  ctx: RunContext,
  app: AppView,
  policy: PolicyResult,
): Promise<boolean | undefined> {
  const key = app.appId.toLowerCase();
  const known = ctx.servicePrincipals?.get(key);
  if (known) return known;
  if (!mayBeDue(ctx, app, policy)) return Promise.resolve(undefined);
  const answer = lookUp(ctx, [key]).then((set) => set?.has(key));
  ctx.servicePrincipals?.set(key, answer);
  return answer;
}
