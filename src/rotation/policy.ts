// Per-app policy from the app registration's tags (contract.md §2, §7). Pure.
import { oneLine } from '../text.js';
import { BOUNDS, isEmailAddress, parseWholeNumber, type Settings } from '../settings.js';

export interface AppPolicy {
  disabled: boolean;
  renewBeforeDays: number;
  lifetimeDays: number;
  secretName: string;
  /** Extra recipients from rotation:notify. */
  notify: string[];
  /** FORCE_MIN_INTERVAL_MINUTES (a setting, not a tag): see forceTooSoon in checks.ts. */
  forceMinIntervalMinutes?: number;
}

export type PolicyResult = { ok: true; policy: AppPolicy } | { ok: false; tag: string; reason: string };

export const TAG_PREFIX = 'rotation:';
const KNOWN_KEYS = ['disabled', 'renewBeforeDays', 'lifetimeDays', 'secretName', 'notify'] as const;

/** Key Vault object names: 1-127 characters of 0-9, a-z, A-Z and '-', starting with a letter. */
export function isValidSecretName(name: string): boolean {
  return /^[A-Za-z][A-Za-z0-9-]{0,126}$/.test(name);
}

/** The stable Key Vault secret name of an app without a rotation:secretName tag. */
export function defaultSecretName(appId: string): string {
  return `app-${appId.toLowerCase()}`;
}

const GUID_NAME = /^app-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

/**
 * §8: names a tag may not claim. The rotator's own state lives under its prefix, and `app-<guid>` is the default
 * secret of the app with that appId: a tag naming another app's default would take its secret before it is made.
 */
export function reservedSecretName(secretName: string, appId: string): string | undefined {
  if (secretName.toLowerCase().startsWith('entra-secret-rotator'))
    return "names starting with 'entra-secret-rotator' hold the rotator's own state";
  const guid = GUID_NAME.exec(secretName)?.[1];
  if (guid && guid.toLowerCase() !== appId.toLowerCase())
    return `app-${guid.toLowerCase()} is the default secret name of the app ${guid.toLowerCase()}, not of this app`;
  return undefined;
}

/** Tag values come from the tenant: keep what we echo short and printable. */
const shown = (tag: string) => oneLine(tag, 80);

const invalid = (tag: string, why: string): PolicyResult => ({
  ok: false,
  tag: shown(tag),
  reason: `invalid tag ${shown(tag)}: ${why}`,
});

/** The app's rotation:* tags by key (value '' for rotation:disabled), or why one of them is invalid. */
function rotationTags(tags: readonly string[]): Map<string, string> | PolicyResult {
  const seen = new Map<string, string>();
  for (const tag of tags) {
    if (!tag.startsWith(TAG_PREFIX)) continue;
    const body = tag.slice(TAG_PREFIX.length);
    const eq = body.indexOf('=');
    const key = eq < 0 ? body : body.slice(0, eq);
    if (!(KNOWN_KEYS as readonly string[]).includes(key)) {
      return invalid(
        tag,
        `unknown rotation tag (known: ${KNOWN_KEYS.map((k) => TAG_PREFIX + k).join(', ')})`,
      );
    }
    if (key === 'disabled' ? eq >= 0 : eq < 0) {
      return invalid(
        tag,
        key === 'disabled' ? 'use rotation:disabled without a value' : `expected ${TAG_PREFIX}${key}=<value>`,
      );
    }
    const value = eq < 0 ? '' : body.slice(eq + 1);
    if (seen.has(key) && seen.get(key) !== value)
      return invalid(tag, `conflicts with ${TAG_PREFIX}${key}=${shown(seen.get(key)!)}`);
    seen.set(key, value);
  }
  return seen;
}

export function policyFor(app: { appId: string; tags: readonly string[] }, settings: Settings): PolicyResult {
  const seen = rotationTags(app.tags);
  if (!(seen instanceof Map)) return seen;
  const days = (
    key: 'renewBeforeDays' | 'lifetimeDays',
    fallback: number,
    bounds: { min: number; max: number },
  ) => {
    const raw = seen.get(key);
    if (raw === undefined) return fallback;
    const n = parseWholeNumber(raw);
    if (n === undefined || n < bounds.min || n > bounds.max) {
      return invalid(
        `${TAG_PREFIX}${key}=${raw}`,
        `expected a whole number of days from ${bounds.min} to ${bounds.max}`,
      );
    }
    return n;
  };
  const renewBeforeDays = days('renewBeforeDays', settings.renewBeforeDays, BOUNDS.renewBeforeDays);
  if (typeof renewBeforeDays !== 'number') return renewBeforeDays;
  const lifetimeDays = days('lifetimeDays', settings.secretLifetimeDays, BOUNDS.secretLifetimeDays);
  if (typeof lifetimeDays !== 'number') return lifetimeDays;
  if (lifetimeDays <= renewBeforeDays) {
    const culprit = seen.has('lifetimeDays')
      ? `${TAG_PREFIX}lifetimeDays=${lifetimeDays}`
      : `${TAG_PREFIX}renewBeforeDays=${renewBeforeDays}`;
    return invalid(
      culprit,
      `the secret lifetime (${lifetimeDays} days) must be longer than the renewal window (${renewBeforeDays} days)`,
    );
  }

  const secretName = seen.get('secretName') ?? defaultSecretName(app.appId);
  if (!isValidSecretName(secretName)) {
    return invalid(
      `${TAG_PREFIX}secretName=${secretName}`,
      'not a valid Key Vault secret name (1-127 letters, digits and -, starting with a letter)',
    );
  }

  const reserved = reservedSecretName(secretName, app.appId);
  if (reserved) return invalid(`${TAG_PREFIX}secretName=${secretName}`, reserved);

  const notify: string[] = [];
  const notifyRaw = seen.get('notify');
  if (notifyRaw !== undefined) {
    for (const addr of notifyRaw.split(';').map((s) => s.trim())) {
      if (!isEmailAddress(addr))
        return invalid(`${TAG_PREFIX}notify=${notifyRaw}`, `"${shown(addr)}" is not an email address`);
      notify.push(addr);
    }
  }

  return {
    ok: true,
    policy: {
      disabled: seen.has('disabled'),
      renewBeforeDays,
      lifetimeDays,
      secretName,
      notify,
      forceMinIntervalMinutes: settings.forceMinIntervalMinutes,
    },
  };
}
