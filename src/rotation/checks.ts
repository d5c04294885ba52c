// Decisions, as named pure checks over gathered state (contract.md §7). No I/O; `now` is an argument.
import type { AppPolicy, PolicyResult } from './policy.js';
import type { AppView, Credential } from '../azure/graph-types.js';
import { DAY_MS } from '../util/ids.js';

/** Marks credentials this rotator created: only these are ever removed. */
export const ROTATOR_PREFIX = 'entra-secret-rotator';

export type { AppView, Credential } from '../azure/graph-types.js';

/** What Key Vault says about the app's secret; undefined when it was not read (or there is no vault). */
export interface VaultView {
  /** keyId tag of the latest version, if any. */
  latestKeyId?: string;
  /** keyId tags of every version (a credential whose secret reached Key Vault). */
  storedKeyIds: Set<string>;
}

export const isRotatorMade = (c: Credential) => (c.displayName ?? '').startsWith(ROTATOR_PREFIX);
const end = (c: Credential) => Date.parse(c.endDateTime);
const isValid = (c: Credential, now: Date) => end(c) > now.getTime();

/** §7: the credential the Key Vault secret points to if it still exists and is valid, else the valid one expiring last. */
export function currentSecret(app: AppView, vault: VaultView | undefined, now: Date): Credential | undefined {
  const valid = app.passwordCredentials.filter((c) => isValid(c, now));
  const pointed = vault?.latestKeyId ? valid.find((c) => c.keyId === vault.latestKeyId) : undefined;
  return pointed ?? valid.sort((a, b) => end(b) - end(a))[0];
}

/** Why an app was settled or sent on: the first check of a chain that answers. Reported as the entry's `code`. */
export type DecisionCode =
  | 'disabled-by-tag'
  | 'invalid-tag'
  | 'no-client-secret'
  | 'forced'
  | 'force-too-soon'
  | 'secret-expired'
  | 'current-secret-nearing-expiry'
  | 'current-secret-valid'
  | 'no-service-principal'
  | 'service-principal-unknown'
  | 'two-secret-limit';

/** Why the listing pass sends an app to reconcile instead of settling it from Graph's data and the vault index. */
export type TriageCode = 'forced' | 'may-be-due' | 'superseded-to-retire' | 'possible-orphan';

export interface Decision {
  action: 'rotate' | 'up-to-date' | 'skip' | 'fail';
  code: DecisionCode;
  reason: string;
  current?: Credential;
  policy?: AppPolicy;
}

export interface DecisionInput {
  app: AppView;
  policy: PolicyResult;
  vault: VaultView | undefined;
  now: Date;
  force: boolean;
  /** Whether the app has a service principal in this tenant; undefined when not looked up or not known. */
  servicePrincipal?: boolean;
  /** Under the lock: why Graph could not say whether the app has one (the lookup failed, also when asked alone). */
  servicePrincipalUnknown?: string;
}

/** A check's answer: what to do and why, in words an operator reads. */
export interface Finding<A extends string, C extends string> {
  action: A;
  code: C;
  reason: string;
}

/** A named pure check: answers, or passes (undefined) to the next check of its chain. */
export type Check<I, A extends string, C extends string> = (input: I) => Finding<A, C> | undefined;

/** The first answer of a chain. */
export function firstFinding<I, A extends string, C extends string>(
  chain: ReadonlyArray<Check<I, A, C>>,
  input: I,
): Finding<A, C> | undefined {
  for (const check of chain) {
    const found = check(input);
    if (found) return found;
  }
  return undefined;
}

const days = (ms: number) => Math.floor(ms / DAY_MS);
const isoDay = (c: Credential) => c.endDateTime.slice(0, 10);
const expiresIn = (c: Credential, now: Date) =>
  `current secret expires in ${days(end(c) - now.getTime())} days (${isoDay(c)})`;

type PolicyInput = { app: AppView; policy: PolicyResult };
type Skip = Finding<'skip', DecisionCode>;

export const disabledByTag = ({ policy }: PolicyInput): Skip | undefined =>
  policy.ok && policy.policy.disabled
    ? { action: 'skip', code: 'disabled-by-tag', reason: 'disabled by tag rotation:disabled' }
    : undefined;

export const invalidTag = ({ policy }: PolicyInput): Skip | undefined =>
  policy.ok ? undefined : { action: 'skip', code: 'invalid-tag', reason: policy.reason };

export const noClientSecret = ({ app }: PolicyInput): Skip | undefined =>
  app.passwordCredentials.length === 0
    ? { action: 'skip', code: 'no-client-secret', reason: 'no client secret to rotate' }
    : undefined;

/** Apps the rotator leaves alone, whatever their credentials say: the head of both chains. */
export const skipChain = [disabledByTag, invalidTag, noClientSecret] as const;

type RotationInput = DecisionInput & { current?: Credential };
type RotationFinding = Finding<Decision['action'], DecisionCode>;

export const forced = ({ force }: RotationInput): RotationFinding | undefined =>
  force ? { action: 'rotate', code: 'forced', reason: 'forced by operator (--force)' } : undefined;

/**
 * FORCE_MIN_INTERVAL_MINUTES: a forced rotation of an app whose current secret the rotator made moments ago is
 * refused, so repeated forced requests cannot pile up valid secrets and owner emails (issue 13).
 */
export const forceTooSoon = ({ force, current, policy, now }: RotationInput): RotationFinding | undefined => {
  const minutes = policy.ok ? (policy.policy.forceMinIntervalMinutes ?? 0) : 0;
  if (!force || !current || !isRotatorMade(current) || minutes <= 0) return undefined;
  const again = Date.parse(current.startDateTime) + minutes * 60_000;
  if (now.getTime() >= again) return undefined;
  const at = new Date(again).toISOString();
  return {
    action: 'skip',
    code: 'force-too-soon',
    reason: `not forced: the rotator made the current secret at ${current.startDateTime}, less than FORCE_MIN_INTERVAL_MINUTES (${minutes}) ago; it may be forced again from ${at}`,
  };
};

export const secretExpired = ({ current }: RotationInput): RotationFinding | undefined =>
  current
    ? undefined
    : { action: 'rotate', code: 'secret-expired', reason: 'every client secret has expired' };

export const currentSecretNearingExpiry = ({
  current,
  now,
  policy,
}: RotationInput): RotationFinding | undefined => {
  const window = (policy.ok ? policy.policy.renewBeforeDays : 0) * DAY_MS;
  return end(current!) - now.getTime() <= window
    ? { action: 'rotate', code: 'current-secret-nearing-expiry', reason: expiresIn(current!, now) }
    : undefined;
};

/** The checks that make an app due (forced included). */
const dueChain = [forced, secretExpired, currentSecretNearingExpiry] as const;

/**
 * §8: a due app without a service principal in this tenant fails before any change: Entra refuses every sign-in of
 * such an app (AADSTS7000229), so a new secret could never be proven. Apps not due are left as they are.
 */
export const noServicePrincipal = (input: RotationInput): RotationFinding | undefined =>
  input.servicePrincipal === false && firstFinding(dueChain, input)
    ? {
        action: 'fail',
        code: 'no-service-principal',
        reason:
          'the app has no service principal in this tenant, so Entra refuses its sign-ins (AADSTS7000229) and a new ' +
          `secret could never be proven; nothing was changed. Create one: az ad sp create --id ${input.app.appId}`,
      }
    : undefined;

/**
 * §8 "before any change": a due app whose service principal Graph could not confirm is not touched this run, since
 * a credential added to an app without one is added, refused (AADSTS7000229) and removed again. The next run asks
 * again. Decided only under the lock (a preview without an answer leaves it to reconcile).
 */
export const servicePrincipalUnknown = (input: RotationInput): RotationFinding | undefined =>
  input.servicePrincipalUnknown !== undefined && firstFinding(dueChain, input)
    ? {
        action: 'fail',
        code: 'service-principal-unknown',
        reason:
          `could not check whether the app has a service principal in this tenant (${input.servicePrincipalUnknown}); ` +
          'nothing was changed, the next run checks again',
      }
    : undefined;

/**
 * §7: a due app limited to two passwords, both in use and neither a superseded one of the rotator's, fails before
 * any change. Decided here, not in the rotation's steps, so a dry run and `scan` report what the real run does.
 */
export const twoSecretLimit = (input: RotationInput): RotationFinding | undefined => {
  if (!firstFinding(dueChain, input)) return undefined;
  const plan = planCapacity(input.app, input.current);
  return 'refuse' in plan ? { action: 'fail', code: 'two-secret-limit', reason: plan.refuse } : undefined;
};

/** The rotation chain, re-run inside the app's lock over fresh state: the first check that answers decides. */
export const rotationChain: ReadonlyArray<Check<RotationInput, Decision['action'], DecisionCode>> = [
  ...skipChain,
  forceTooSoon,
  noServicePrincipal,
  servicePrincipalUnknown,
  twoSecretLimit,
  ...dueChain,
];

export function decide(input: DecisionInput): Decision {
  const current = currentSecret(input.app, input.vault, input.now);
  const policy = input.policy.ok ? input.policy.policy : undefined;
  const found = firstFinding(rotationChain, { ...input, current });
  if (found) return { ...found, current, policy };
  return {
    action: 'up-to-date',
    code: 'current-secret-valid',
    reason: expiresIn(current!, input.now),
    current,
    policy,
  };
}

/** The listing pass, before anything but Graph's data is known. */
export interface TriageInput {
  app: AppView;
  policy: PolicyResult;
  now: Date;
  force: boolean;
  /** keyId tag of the latest version of the app's secret, from the run's one listing of the vault. */
  vaultLatestKeyId?: string;
}

type Triage = Finding<'reconcile', TriageCode>;

export const forcedByOperator = ({ force }: TriageInput): Triage | undefined =>
  force ? { action: 'reconcile', code: 'forced', reason: 'forced by operator' } : undefined;

/** Any valid secret inside the renewal window, or none valid: the decision may be "rotate". */
export const secretMayBeDue = ({ app, policy, now }: TriageInput): Triage | undefined => {
  const window = now.getTime() + (policy.ok ? policy.policy.renewBeforeDays : 0) * DAY_MS;
  const valid = app.passwordCredentials.filter((c) => isValid(c, now));
  return valid.length === 0 || valid.some((c) => end(c) <= window)
    ? { action: 'reconcile', code: 'may-be-due', reason: 'a secret expires within the renewal window' }
    : undefined;
};

export const supersededToRetire = ({ app }: TriageInput): Triage | undefined =>
  app.passwordCredentials.filter(isRotatorMade).length >= 2
    ? { action: 'reconcile', code: 'superseded-to-retire', reason: 'more than one rotator-made secret' }
    : undefined;

/** A rotator-made credential that Key Vault's latest version does not name may be an orphan (§7). */
export const possibleOrphan = ({ app, vaultLatestKeyId }: TriageInput): Triage | undefined => {
  const made = app.passwordCredentials.filter(isRotatorMade);
  return made.length === 1 && made[0]!.keyId !== vaultLatestKeyId
    ? {
        action: 'reconcile',
        code: 'possible-orphan',
        reason: 'a rotator-made secret Key Vault does not name',
      }
    : undefined;
};

/** Listing pass, on Graph's data alone, after skipChain: forced or possibly due apps go to reconcile. */
export const triageChain: ReadonlyArray<Check<TriageInput, 'reconcile', TriageCode>> = [
  forcedByOperator,
  secretMayBeDue,
];

/**
 * Listing pass, with the vault index: an app that passes both triage chains has nothing to rotate, retire or
 * sweep, so Graph's data plus one listing of the vault settle it. This keeps a sweep's cost proportional to the
 * apps that change.
 */
export const vaultIndexChain: ReadonlyArray<Check<TriageInput, 'reconcile', TriageCode>> = [
  supersededToRetire,
  possibleOrphan,
];

/** Whether the vault index chain needs the vault's latest keyId at all (only rotator-made credentials do). */
export const hasRotatorMade = (app: AppView) => app.passwordCredentials.some(isRotatorMade);

/** §8: a Key Vault secret belongs to one app; the latest version's appId tag names its owner. */
export const secretHeldByAnotherApp = ({
  app,
  policy,
  vault,
}: {
  app: Pick<AppView, 'appId'>;
  policy: Pick<AppPolicy, 'secretName'>;
  vault: { latestAppId?: string };
}): Finding<'fail', 'secret-of-another-app'> | undefined =>
  vault.latestAppId && vault.latestAppId.toLowerCase() !== app.appId.toLowerCase()
    ? {
        action: 'fail',
        code: 'secret-of-another-app',
        // Two apps writing one secret would hand each other's consumers the wrong credential.
        reason: `Key Vault secret ${policy.secretName} holds the secret of another app (${vault.latestAppId}); give this app its own rotation:secretName`,
      }
    : undefined;

/** §8 ownership of the secret an app is about to write, from Key Vault's latest version and this run's claims. */
export type Ownership =
  | { owned: 'absent' | 'tagged' }
  /** Exists without an appId tag: it becomes this app's only if its value signs in as the app. */
  | { owned: 'adopt' }
  | Finding<'fail', 'secret-of-another-app'>;

export function secretOwnership({
  app,
  secretName,
  vault,
  claimedBy,
}: {
  app: Pick<AppView, 'appId'>;
  secretName: string;
  vault: { exists?: boolean; latestAppId?: string };
  /** The app of this run that claimed the name first, if another one did. */
  claimedBy?: string;
}): Ownership {
  const fix = 'give this app its own rotation:secretName';
  if (claimedBy && claimedBy.toLowerCase() !== app.appId.toLowerCase())
    return {
      action: 'fail',
      code: 'secret-of-another-app',
      reason: `Key Vault secret ${secretName} is written by the app ${claimedBy} in this run; ${fix}`,
    };
  const held = secretHeldByAnotherApp({ app, policy: { secretName }, vault });
  if (held) return held;
  if (!vault.exists) return { owned: 'absent' };
  return vault.latestAppId ? { owned: 'tagged' } : { owned: 'adopt' };
}

/** Only apps carrying ROTATION_TAG (when set) are in scope, whatever ROTATION_SCOPE lists. */
export const carriesScopeTag = (app: Pick<AppView, 'tags'>, tag: string | undefined) =>
  !tag || app.tags.includes(tag);

/** §7 Orphans: rotator-made credentials whose secret never reached Key Vault. Without a lock, only old ones. */
export function findOrphans(
  app: AppView,
  vault: VaultView,
  now: Date,
  opts: { lockHeld: boolean; verifyTimeoutSeconds: number },
): Credential[] {
  const minAgeMs = opts.lockHeld ? 0 : 2 * opts.verifyTimeoutSeconds * 1000;
  return app.passwordCredentials.filter(
    (c) =>
      isRotatorMade(c) &&
      !vault.storedKeyIds.has(c.keyId) &&
      now.getTime() - Date.parse(c.startDateTime) >= minAgeMs,
  );
}

/**
 * §7 Superseded since: a rotator-made credential is superseded from the start of the stored credential that
 * replaced it as current. Returns those superseded longer than retireAfterDays; never the current one, never a
 * person's credential.
 */
export function planRetirement(
  app: AppView,
  vault: VaultView,
  current: Credential | undefined,
  now: Date,
  retireAfterDays: number,
): Credential[] {
  const stored = app.passwordCredentials.filter((c) => vault.storedKeyIds.has(c.keyId));
  return app.passwordCredentials.filter((c) => {
    if (!isRotatorMade(c) || c.keyId === current?.keyId || !vault.storedKeyIds.has(c.keyId)) return false;
    const start = Date.parse(c.startDateTime);
    const successors = stored.map((s) => Date.parse(s.startDateTime)).filter((t) => t > start);
    if (successors.length === 0) return false;
    return now.getTime() - Math.min(...successors) >= retireAfterDays * DAY_MS;
  });
}

/** Entra allows at most two passwords on apps that accept personal Microsoft accounts. */
export function passwordLimit(app: AppView): number | undefined {
  return app.signInAudience === 'AzureADandPersonalMicrosoftAccount' ||
    app.signInAudience === 'PersonalMicrosoftAccount'
    ? 2
    : undefined;
}

/** §7 two-password apps: the rotator's own oldest credential that is not current may make room; else a reason. */
export function planCapacity(
  app: AppView,
  current: Credential | undefined,
): { free: Credential[] } | { refuse: string } {
  const limit = passwordLimit(app);
  if (limit === undefined || app.passwordCredentials.length < limit) return { free: [] };
  const needed = app.passwordCredentials.length - limit + 1;
  const candidates = app.passwordCredentials
    .filter((c) => isRotatorMade(c) && c.keyId !== current?.keyId)
    .sort((a, b) => Date.parse(a.startDateTime) - Date.parse(b.startDateTime));
  if (candidates.length < needed) {
    return {
      refuse:
        `this app accepts personal Microsoft accounts and allows only ${limit} client secrets, all in use, and none is a ` +
        'superseded secret made by the rotator; remove an unused secret by hand to make room',
    };
  }
  return { free: candidates.slice(0, needed) };
}
