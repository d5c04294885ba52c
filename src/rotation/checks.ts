// Decisions, as named pure checks over gathered state (contract.md §7). No I/O; `now` is an argument.
import type { AppPolicy, PolicyResult } from './policy.js';

/** Marks credentials this rotator created: only these are ever removed. */
export const ROTATOR_PREFIX = 'entra-secret-rotator';
const DAY = 86_400_000;

export interface Credential {
  keyId: string;
  displayName: string | null;
  startDateTime: string;
  endDateTime: string;
}

export interface AppView {
  id: string;
  appId: string;
  displayName: string;
  tags: string[];
  signInAudience?: string;
  passwordCredentials: Credential[];
  keyCredentials?: Credential[];
}

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

export type DecisionCode =
  | 'disabled-by-tag'
  | 'invalid-tag'
  | 'no-client-secret'
  | 'forced'
  | 'secret-expired'
  | 'current-secret-nearing-expiry'
  | 'current-secret-valid';

export interface Decision {
  action: 'rotate' | 'up-to-date' | 'skip';
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
}

type Check = (input: DecisionInput & { current?: Credential; policy: PolicyResult }) => Decision | undefined;

const days = (ms: number) => Math.floor(ms / DAY);
const isoDay = (c: Credential) => c.endDateTime.slice(0, 10);

// The chain: the first check that answers decides, and its reason is what the operator reads.
const checks: Array<[string, Check]> = [
  [
    'DisabledByTag',
    ({ policy }) =>
      policy.ok && policy.policy.disabled
        ? { action: 'skip', code: 'disabled-by-tag', reason: 'disabled by tag rotation:disabled' }
        : undefined,
  ],
  [
    'InvalidTag',
    ({ policy }) => (policy.ok ? undefined : { action: 'skip', code: 'invalid-tag', reason: policy.reason }),
  ],
  [
    'NoClientSecret',
    ({ app }) =>
      app.passwordCredentials.length === 0
        ? { action: 'skip', code: 'no-client-secret', reason: 'no client secret to rotate' }
        : undefined,
  ],
  [
    'Forced',
    ({ force, current }) =>
      force
        ? { action: 'rotate', code: 'forced', reason: 'forced by operator (--force)', current }
        : undefined,
  ],
  [
    'SecretExpired',
    ({ current }) =>
      current
        ? undefined
        : { action: 'rotate', code: 'secret-expired', reason: 'every client secret has expired' },
  ],
  [
    'CurrentSecretNearingExpiry',
    ({ current, now, policy }) => {
      const window = (policy.ok ? policy.policy.renewBeforeDays : 0) * DAY;
      const left = end(current!) - now.getTime();
      return left <= window
        ? {
            action: 'rotate',
            code: 'current-secret-nearing-expiry',
            reason: `current secret expires in ${days(left)} days (${isoDay(current!)})`,
            current,
          }
        : undefined;
    },
  ],
];

export function decide(input: DecisionInput): Decision {
  const current = currentSecret(input.app, input.vault, input.now);
  const policy = input.policy.ok ? input.policy.policy : undefined;
  for (const [, check] of checks) {
    const d = check({ ...input, current });
    if (d) return { ...d, policy };
  }
  const left = end(current!) - input.now.getTime();
  return {
    action: 'up-to-date',
    code: 'current-secret-valid',
    reason: `current secret expires in ${days(left)} days (${isoDay(current!)})`,
    current,
    policy,
  };
}

/** Any valid secret inside the renewal window, or none valid: the decision may be "rotate", so it needs the vault. */
export function mayBeDue(app: AppView, policy: PolicyResult, now: Date): boolean {
  if (!policy.ok || policy.policy.disabled || app.passwordCredentials.length === 0) return false;
  const window = now.getTime() + policy.policy.renewBeforeDays * DAY;
  const valid = app.passwordCredentials.filter((c) => isValid(c, now));
  return valid.length === 0 || valid.some((c) => end(c) <= window);
}

/**
 * Whether the decision and the clean-up around it need Key Vault's full view of the app (every version).
 * Graph's data plus the vault's latest keyId (one bulk listing per run) settle most apps of a large tenant: every
 * valid secret is outside the window, and the only rotator-made credential is the one Key Vault holds, so there
 * is nothing to rotate, retire or sweep. This keeps a sweep's cost proportional to the apps that change.
 */
export function needsVaultView(
  app: AppView,
  policy: PolicyResult,
  now: Date,
  vaultLatestKeyId: string | undefined,
): boolean {
  if (!policy.ok || policy.policy.disabled || app.passwordCredentials.length === 0) return false;
  if (mayBeDue(app, policy, now)) return true;
  const rotatorMade = app.passwordCredentials.filter(isRotatorMade);
  if (rotatorMade.length >= 2) return true; // something to retire, or an orphan beside a stored one
  // A rotator-made credential that Key Vault's latest version does not name may be an orphan (§7).
  return rotatorMade.length === 1 && rotatorMade[0]!.keyId !== vaultLatestKeyId;
}

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
    return now.getTime() - Math.min(...successors) >= retireAfterDays * DAY;
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
