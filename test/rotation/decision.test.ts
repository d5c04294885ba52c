// The pure decisions: settings, tag policy and the named checks, as tables (contract.md §1, §2, §7).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadSettings, SettingsError, type Settings } from '../../src/settings.js';
import { defaultSecretName, policyFor } from '../../src/rotation/policy.js';
import {
  currentSecret,
  decide,
  findOrphans,
  firstFinding,
  planCapacity,
  planRetirement,
  skipChain,
  triageChain,
  vaultIndexChain,
  type AppView,
  type Credential,
} from '../../src/rotation/checks.js';

const NOW = new Date('2026-11-23T12:00:00Z');
const DAY = 86_400_000;
const settings: Settings = loadSettings(
  { KEY_VAULT_URL: 'https://kv.vault.azure.net' },
  { requireKeyVault: true },
);

let n = 0;
function cred(
  daysLeft: number,
  opts: { rotator?: boolean; ageDays?: number; keyId?: string } = {},
): Credential {
  n++;
  return {
    keyId: opts.keyId ?? `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`,
    displayName: opts.rotator ? `entra-secret-rotator 2026-01-01 ${n}` : `made by a person ${n}`,
    startDateTime: new Date(NOW.getTime() - (opts.ageDays ?? 100) * DAY).toISOString(),
    endDateTime: new Date(NOW.getTime() + daysLeft * DAY).toISOString(),
  };
}
function app(passwords: Credential[], tags: string[] = [], extra: Partial<AppView> = {}): AppView {
  return {
    id: 'obj',
    appId: '11111111-1111-1111-1111-111111111111',
    displayName: 'App',
    tags,
    passwordCredentials: passwords,
    ...extra,
  };
}
const decideFor = (a: AppView, vault?: { latestKeyId?: string; storedKeyIds?: string[] }, force = false) =>
  decide({
    app: a,
    policy: policyFor(a, settings),
    vault: vault
      ? { latestKeyId: vault.latestKeyId, storedKeyIds: new Set(vault.storedKeyIds ?? []) }
      : undefined,
    now: NOW,
    force,
  });

describe('settings (contract §1, §7 bounds)', () => {
  const ok = { KEY_VAULT_URL: 'https://kv.vault.azure.net' };
  it('applies the contract defaults', () => {
    expect(settings).toMatchObject({
      graphEndpoint: 'https://graph.microsoft.com',
      authorityHost: 'https://login.microsoftonline.com',
      scope: 'owned',
      renewBeforeDays: 30,
      secretLifetimeDays: 180,
      retireAfterDays: 7,
      verifyTimeoutSeconds: 300,
      notifyAlso: [],
      remindUnmanaged: false,
      keyVaultDisableChallengeVerification: false,
    });
  });
  it.each([
    [{}, 'KEY_VAULT_URL'],
    [{ ...ok, KEY_VAULT_URL: 'http://kv.vault.azure.net' }, 'KEY_VAULT_URL'],
    [{ ...ok, KEY_VAULT_URL: 'not a url' }, 'KEY_VAULT_URL'],
    [{ ...ok, RENEW_BEFORE_DAYS: '0' }, 'RENEW_BEFORE_DAYS'],
    [{ ...ok, RENEW_BEFORE_DAYS: '366' }, 'RENEW_BEFORE_DAYS'],
    [{ ...ok, RENEW_BEFORE_DAYS: 'abc' }, 'RENEW_BEFORE_DAYS'],
    [{ ...ok, RENEW_BEFORE_DAYS: '1.5' }, 'RENEW_BEFORE_DAYS'],
    [{ ...ok, SECRET_LIFETIME_DAYS: '731' }, 'SECRET_LIFETIME_DAYS'],
    [{ ...ok, SECRET_LIFETIME_DAYS: '30' }, 'SECRET_LIFETIME_DAYS'],
    [{ ...ok, RENEW_BEFORE_DAYS: '90', SECRET_LIFETIME_DAYS: '60' }, 'SECRET_LIFETIME_DAYS'],
    [{ ...ok, RETIRE_AFTER_DAYS: '0' }, 'RETIRE_AFTER_DAYS'],
    [{ ...ok, VERIFY_TIMEOUT_SECONDS: '3601' }, 'VERIFY_TIMEOUT_SECONDS'],
    [{ ...ok, ROTATION_SCOPE: 'all' }, 'ROTATION_SCOPE'],
    [{ ...ok, ROTATION_SCOPE: 'tagged' }, 'ROTATION_TAG'],
    [{ ...ok, GRAPH_ENDPOINT: 'https://graph.microsoft.com/v1.0' }, 'GRAPH_ENDPOINT'],
    [{ ...ok, NOTIFY_ALSO: 'secops@contoso.com,not-an-address' }, 'NOTIFY_ALSO'],
    [{ ...ok, REMIND_UNMANAGED: 'maybe' }, 'REMIND_UNMANAGED'],
    [{ ...ok, ACS_ENDPOINT: 'https://acs.communication.azure.com' }, 'EMAIL_SENDER'],
    [{ ...ok, ROTATION_SCHEDULE: 'every day' }, 'ROTATION_SCHEDULE'],
    [
      { ...ok, KEY_VAULT_DISABLE_CHALLENGE_VERIFICATION: 'perhaps' },
      'KEY_VAULT_DISABLE_CHALLENGE_VERIFICATION',
    ],
  ])('refuses %j naming %s, in one line', (env, name) => {
    let err: unknown;
    try {
      loadSettings(env, { requireKeyVault: true });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SettingsError);
    expect((err as SettingsError).setting).toBe(name);
    expect((err as Error).message).toContain(name);
    expect((err as Error).message).not.toContain('\n');
  });
  it('treats empty values as unset and scan does not need a vault', () => {
    expect(
      loadSettings({ RENEW_BEFORE_DAYS: '', KEY_VAULT_URL: ' ' }, { requireKeyVault: false }).renewBeforeDays,
    ).toBe(30);
  });
});

describe('per-app tags (contract §2, §7)', () => {
  it.each([
    [['rotation:disabled'], { disabled: true }],
    [['rotation:renewBeforeDays=10'], { renewBeforeDays: 10 }],
    [['rotation:lifetimeDays=90'], { lifetimeDays: 90 }],
    [['rotation:secretName=payroll-api'], { secretName: 'payroll-api' }],
    [['rotation:notify=a@contoso.com;b@contoso.com'], { notify: ['a@contoso.com', 'b@contoso.com'] }],
    [
      ['unrelated', 'rotate-me'],
      { disabled: false, secretName: defaultSecretName('11111111-1111-1111-1111-111111111111') },
    ],
  ])('%j → %j', (tags, expected) => {
    const r = policyFor({ appId: '11111111-1111-1111-1111-111111111111', tags }, settings);
    expect(r.ok && r.policy).toMatchObject(expected);
  });
  it.each([
    ['rotation:renewBeforeDays=soon'],
    ['rotation:renewBeforeDays=0'],
    ['rotation:renewBeforeDays=366'],
    ['rotation:lifetimeDays=731'],
    ['rotation:lifetimeDays=20'], // not longer than the 30-day window
    ['rotation:lifetimedays=90'], // a typo: unknown tag
    ['rotation:secretName=9starts-with-digit'],
    ['rotation:secretName=has_underscore'],
    ['rotation:notify=not-an-address'],
    ['rotation:disabled=true'],
    ['rotation:secretName'],
  ])('skips the app for %s, naming the tag', (tag) => {
    const r = policyFor({ appId: 'x', tags: [tag] }, settings);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(tag.split('=')[0]!);
  });
  it('default secret names are valid Key Vault names for every appId', () => {
    fc.assert(fc.property(fc.uuid(), (id) => /^[A-Za-z][A-Za-z0-9-]{0,126}$/.test(defaultSecretName(id))));
  });
});

describe('decision chain (contract §7)', () => {
  it.each([
    [
      'due: current secret expires in 10 days',
      [cred(10)],
      undefined,
      'rotate',
      'current-secret-nearing-expiry',
    ],
    ['due on the window edge (30 days)', [cred(30)], undefined, 'rotate', 'current-secret-nearing-expiry'],
    ['up to date at 31 days', [cred(31)], undefined, 'up-to-date', 'current-secret-valid'],
    ['all expired', [cred(-1), cred(-20)], undefined, 'rotate', 'secret-expired'],
    [
      'newest valid decides without a vault pointer',
      [cred(5), cred(200)],
      undefined,
      'up-to-date',
      'current-secret-valid',
    ],
    ['no client secret', [], undefined, 'skip', 'no-client-secret'],
  ] as const)('%s', (_name, creds, vault, action, code) => {
    const d = decideFor(app([...creds]), vault);
    expect([d.action, d.code]).toEqual([action, code]);
  });
  it('the vault pointer picks the current secret even when a newer one exists', () => {
    const pointed = cred(5);
    const d = decideFor(app([pointed, cred(200)]), {
      latestKeyId: pointed.keyId,
      storedKeyIds: [pointed.keyId],
    });
    expect(d.action).toBe('rotate');
    expect(d.current?.keyId).toBe(pointed.keyId);
  });
  it('a pointer to an expired or removed credential falls back to the valid one expiring last', () => {
    const expired = cred(-3);
    const later = cred(100);
    expect(
      currentSecret(
        app([expired, cred(40), later]),
        { latestKeyId: expired.keyId, storedKeyIds: new Set() },
        NOW,
      )?.keyId,
    ).toBe(later.keyId);
    expect(currentSecret(app([later]), { latestKeyId: 'gone', storedKeyIds: new Set() }, NOW)?.keyId).toBe(
      later.keyId,
    );
  });
  it('disabled wins over everything, even --force; a bad tag skips; force rotates an up-to-date app', () => {
    expect(decideFor(app([cred(1)], ['rotation:disabled']), undefined, true).code).toBe('disabled-by-tag');
    expect(decideFor(app([cred(1)], ['rotation:bogus=1'])).code).toBe('invalid-tag');
    expect(decideFor(app([], []), undefined, true).code).toBe('no-client-secret');
    expect(decideFor(app([cred(300)]), undefined, true).code).toBe('forced');
  });
  it('rotation:renewBeforeDays widens the window for one app', () => {
    expect(decideFor(app([cred(50)], ['rotation:renewBeforeDays=60'])).action).toBe('rotate');
  });
  it('property: an app whose valid secrets all end within the window is due; all beyond it, up to date', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -400, max: 400 }), { minLength: 1, maxLength: 5 }), (lefts) => {
        const d = decideFor(app(lefts.map((l) => cred(l === 30 ? 31 : l))));
        const valid = lefts.map((l) => (l === 30 ? 31 : l)).filter((l) => l > 0);
        const expected = valid.length === 0 || Math.max(...valid) <= 30 ? 'rotate' : 'up-to-date';
        return d.action === expected;
      }),
    );
  });
});

/** The listing pass's question (reconcile.ts triageListed): does Graph plus the vault index leave the app unsettled? */
const needsVaultView = (a: AppView, policy: ReturnType<typeof policyFor>, now: Date, latest?: string) => {
  const input = { app: a, policy, now, force: false, vaultLatestKeyId: latest };
  if (firstFinding(skipChain, input)) return false;
  return !!(firstFinding(triageChain, input) ?? firstFinding(vaultIndexChain, input));
};

describe('what needs Key Vault, orphans, retirement, two-secret apps', () => {
  it('Graph plus the vault index settle an app; due, expired, plural or unmatched rotator-made credentials need the vault', () => {
    const p = (a: AppView) => policyFor(a, settings);
    const stored = cred(200, { rotator: true, ageDays: 30 });
    const settled = app([stored, cred(300)]);
    expect(needsVaultView(settled, p(settled), NOW, stored.keyId)).toBe(false);
    const personOnly = app([cred(300)]);
    expect(needsVaultView(personOnly, p(personOnly), NOW, undefined)).toBe(false);
    // An old rotator-made credential the vault does not name is a possible orphan (contract §3: none is left behind).
    expect(needsVaultView(settled, p(settled), NOW, undefined)).toBe(true);
    expect(needsVaultView(settled, p(settled), NOW, 'another-key-id')).toBe(true);
    for (const a of [
      app([cred(10)]),
      app([cred(-5)]),
      app([cred(200, { rotator: true, ageDays: 40 }), cred(190, { rotator: true, ageDays: 50 })]),
    ]) {
      expect(needsVaultView(a, p(a), NOW, a.passwordCredentials[0]!.keyId)).toBe(true);
    }
  });
  it('orphans: rotator-made and not in the vault; without a lock only once older than 2 × VERIFY_TIMEOUT_SECONDS', () => {
    const stored = cred(100, { rotator: true });
    const fresh = {
      ...cred(180, { rotator: true }),
      startDateTime: new Date(NOW.getTime() - 60_000).toISOString(),
    };
    const old = cred(170, { rotator: true, ageDays: 2 });
    const person = cred(50);
    const a = app([stored, fresh, old, person]);
    const vault = { storedKeyIds: new Set([stored.keyId]) };
    expect(
      findOrphans(a, vault, NOW, { lockHeld: true, verifyTimeoutSeconds: 300 }).map((c) => c.keyId),
    ).toEqual([fresh.keyId, old.keyId]);
    expect(
      findOrphans(a, vault, NOW, { lockHeld: false, verifyTimeoutSeconds: 300 }).map((c) => c.keyId),
    ).toEqual([old.keyId]);
  });
  it('retires rotator-made credentials superseded longer than RETIRE_AFTER_DAYS, never the current one or a person’s', () => {
    const oldest = cred(20, { rotator: true, ageDays: 200 });
    const middle = cred(100, { rotator: true, ageDays: 30 }); // superseded the oldest 30 days ago
    const newest = cred(178, { rotator: true, ageDays: 2 }); // superseded the middle 2 days ago
    const person = cred(10, { ageDays: 300 });
    const a = app([oldest, middle, newest, person]);
    const vault = {
      storedKeyIds: new Set([oldest.keyId, middle.keyId, newest.keyId]),
      latestKeyId: newest.keyId,
    };
    expect(planRetirement(a, vault, newest, NOW, 7).map((c) => c.keyId)).toEqual([oldest.keyId]);
    expect(planRetirement(a, vault, newest, NOW, 1).map((c) => c.keyId)).toEqual([
      oldest.keyId,
      middle.keyId,
    ]);
  });
  it('two-secret apps: frees the rotator’s oldest non-current slot, else refuses with a reason', () => {
    const personal = { signInAudience: 'AzureADandPersonalMicrosoftAccount' };
    const mine = cred(20, { rotator: true, ageDays: 200 });
    const current = cred(5, { rotator: true, ageDays: 175 });
    expect(planCapacity(app([mine, current], [], personal), current)).toEqual({ free: [mine] });
    const refused = planCapacity(app([cred(-20), cred(10)], [], personal), undefined);
    expect('refuse' in refused && refused.refuse).toContain('only 2 client secrets');
    expect(planCapacity(app([cred(1), cred(2), cred(3)]), undefined)).toEqual({ free: [] });
  });
});
