// Contract §8 "A Key Vault secret belongs to one app" (issue 13, finding 1): a rotation:secretName tag cannot point
// the rotator at a secret that is not its app's. Each case reproduces a hijack found against the simulated cloud:
// an untagged hand-kept secret overwritten, the rotator's own state overwritten, another app's default name taken
// before its first rotation, and two apps naming one new secret both writing it.
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';
import { PENDING_SECRET_NAME } from '../../src/notify/pending.js';
import type { AppReport } from '../../src/rotation/report.js';
import { startSimCloud } from '../sim/cloud.js';
import type { SimApplication } from '../sim/tenant.js';

const DAY = 86_400_000;
const cloud = await startSimCloud({ replicationDelayMs: 0 });
afterAll(() => cloud.stop());
// The managed identity credential reads its endpoint from process.env itself.
Object.assign(process.env, cloud.env);

const printed: string[] = [];

async function cli(args: string[], env: Record<string, string> = {}) {
  const run = await runCli(
    args,
    { ...cloud.env, VERIFY_TIMEOUT_SECONDS: '5', LOCK_WAIT_SECONDS: '20', ...env },
    printed,
  );
  return { ...run, entry: (app: SimApplication) => run.report?.apps.find((a) => a.appId === app.appId) };
}

const rotatorMade = (app: SimApplication) =>
  app.passwordCredentials.filter((c) => (c.displayName ?? '').startsWith('entra-secret-rotator'));

function dueApp(name: string, tags: string[] = []) {
  const now = Date.now();
  return cloud.tenant.addApplication({
    displayName: name,
    ownerIds: [cloud.rotator.id],
    tags,
    passwords: [
      {
        displayName: 'made by a person',
        startDateTime: new Date(now - 170 * DAY),
        endDateTime: new Date(now + 5 * DAY),
      },
    ],
  });
}

const addPasswordsFor = (app: SimApplication) =>
  cloud.log.count('graph.addPassword', (e) => JSON.stringify(e).includes(app.id));

beforeEach(() => {
  cloud.tenant.applications.clear();
  cloud.faults.clear();
});

describe('a hand-kept secret without an appId tag', () => {
  it('is not overwritten when its value does not sign in as the app: failed, nothing written, no credential left', async () => {
    cloud.vault.seed('sql-prod-password', 'Tr0ub4dor&3-not-a-client-secret');
    const app = dueApp('Reporting', ['rotation:secretName=sql-prod-password']);

    const r = await cli(['rotate', '--json']);
    const e = r.entry(app)!;
    expect(e).toMatchObject({ action: 'failed', code: 'secret-not-adoptable' });
    expect(e.reason).toContain('sql-prod-password');
    expect(cloud.vault.versions('sql-prod-password').map((v) => v.value)).toEqual([
      'Tr0ub4dor&3-not-a-client-secret',
    ]);
    expect(rotatorMade(app)).toEqual([]);
    expect(addPasswordsFor(app)).toBe(0); // refused before a credential was made, not undone after
    expect(r.code).toBe(1);
  });

  it('is adopted when its value signs in as the app: rotated, the new version tagged with the app', async () => {
    const app = dueApp('Billing', ['rotation:secretName=billing-client-secret']);
    cloud.vault.seed('billing-client-secret', app.passwordCredentials[0]!.secretText);

    const r = await cli(['rotate', '--json']);
    expect(r.entry(app)).toMatchObject({ action: 'rotated' });
    const latest = cloud.vault.latest('billing-client-secret')!;
    expect(latest.tags.appId).toBe(app.appId);
    expect(latest.value).toBe(rotatorMade(app)[0]!.secretText);
    expect(cloud.vault.versions('billing-client-secret')).toHaveLength(2);
  });

  it('scan and rotate --dry-run report the refusal the real run would make, and change nothing', async () => {
    cloud.vault.seed('ldap-bind-password', 'not-a-client-secret-either');
    const app = dueApp('Directory Sync', ['rotation:secretName=ldap-bind-password']);
    const writes = cloud.log.count(/^graph\.(addPassword|removePassword)$|^keyvault\.setSecret$/);

    for (const args of [
      ['scan', '--json'],
      ['rotate', '--dry-run', '--json'],
      ['rotate', '--dry-run', '--json', '--app', app.appId],
    ]) {
      const e = (await cli(args)).entry(app)!;
      expect(e, args.join(' ')).toMatchObject({ action: 'failed', code: 'secret-not-adoptable' });
      expect(e.reason).toContain('ldap-bind-password');
    }
    expect(cloud.log.count(/^graph\.(addPassword|removePassword)$|^keyvault\.setSecret$/)).toBe(writes);
  });
});

describe('reserved secret names are tag errors', () => {
  it("rotation:secretName=entra-secret-rotator-pending-notifications is refused; the rotator's state is untouched", async () => {
    const before = cloud.vault.versions(PENDING_SECRET_NAME).length;
    const app = dueApp('Hijacker', [`rotation:secretName=${PENDING_SECRET_NAME}`]);

    const r = await cli(['rotate', '--json']);
    const e = r.entry(app)!;
    expect(e).toMatchObject({ action: 'skipped', code: 'invalid-tag' });
    expect(e.reason).toContain(`rotation:secretName=${PENDING_SECRET_NAME}`);
    expect(cloud.vault.versions(PENDING_SECRET_NAME).filter((v) => v.tags.appId)).toEqual([]);
    expect(cloud.vault.versions(PENDING_SECRET_NAME).length).toBeLessThanOrEqual(before + 1);
    expect(rotatorMade(app)).toEqual([]);
  });

  it('app-<victimAppId> is refused under tagged scope, and the victim still rotates into its own secret', async () => {
    const env = { ROTATION_SCOPE: 'tagged', ROTATION_TAG: 'rotate-secrets' };
    const victim = dueApp('Victim', ['rotate-secrets']);
    const attacker = dueApp('Attacker', [
      'rotate-secrets',
      `rotation:secretName=app-${victim.appId.toUpperCase()}`,
    ]);

    const r = await cli(['rotate', '--json'], env);
    const a = r.entry(attacker)!;
    expect(a).toMatchObject({ action: 'skipped', code: 'invalid-tag' });
    expect(a.reason).toContain('rotation:secretName=app-');
    expect(rotatorMade(attacker)).toEqual([]);
    expect(r.entry(victim)).toMatchObject({ action: 'rotated' });
    const versions = cloud.vault.versions(`app-${victim.appId}`);
    expect(versions.map((v) => v.tags.appId)).toEqual([victim.appId]);

    // Before the fix the victim failed every later run (its secret held another app's appId).
    const again = await cli(['rotate', '--json'], env);
    expect(again.entry(victim)).toMatchObject({ action: 'up-to-date' });
  });

  it("an app's own default name in a tag is not refused", async () => {
    const app = dueApp('Explicit');
    app.tags.push(`rotation:secretName=app-${app.appId}`);
    const r = await cli(['rotate', '--json', '--app', app.appId]);
    expect(r.entry(app)).toMatchObject({ action: 'rotated' });
  });
});

/** Both apps' outcome: at most one wrote the shared secret; the other failed naming it and kept no new credential. */
function expectOneWriter(name: string, apps: SimApplication[], entries: (AppReport | undefined)[]) {
  const writers = new Set(cloud.vault.versions(name).map((v) => v.tags.appId));
  expect(writers.size).toBeLessThanOrEqual(1);
  const rotated = entries.filter((e) => e?.action === 'rotated');
  expect(rotated.length).toBeLessThanOrEqual(1);
  apps.forEach((app, i) => {
    const e = entries[i]!;
    if (e.action === 'rotated') {
      expect([...writers]).toEqual([app.appId]);
      expect(cloud.vault.latest(name)!.value).toBe(rotatorMade(app)[0]!.secretText);
    } else {
      expect(['failed', 'skipped']).toContain(e.action);
      expect(e.reason).toContain(name);
      expect(rotatorMade(app)).toEqual([]);
    }
  });
}

describe('two apps naming one new secret', () => {
  it('in one run (no lock storage): exactly one writes it, over several trials', async () => {
    for (let trial = 0; trial < 5; trial++) {
      cloud.tenant.applications.clear();
      const name = `shared-new-${trial}`;
      const apps = [
        dueApp(`First ${trial}`, [`rotation:secretName=${name}`]),
        dueApp(`Second ${trial}`, [`rotation:secretName=${name}`]),
      ];
      const r = await cli(['rotate', '--json']);
      const entries = apps.map((a) => r.entry(a));
      expectOneWriter(name, apps, entries);
      expect(entries.filter((e) => e?.action === 'rotated')).toHaveLength(1);
      const refused = entries.find((e) => e?.action !== 'rotated')!;
      expect(refused).toMatchObject({ action: 'failed', code: 'secret-of-another-app' });
    }
  });

  it('in two runs at once, with lock storage: at most one writes it, over several trials', async () => {
    const env = { AzureWebJobsStorage: inject('azuriteConnectionString') };
    for (let trial = 0; trial < 4; trial++) {
      cloud.tenant.applications.clear();
      const name = `shared-locked-${trial}`;
      const apps = [
        dueApp(`One ${trial}`, [`rotation:secretName=${name}`]),
        dueApp(`Two ${trial}`, [`rotation:secretName=${name}`]),
      ];
      const runs = await Promise.all(apps.map((a) => cli(['rotate', '--json', '--app', a.appId], env)));
      expectOneWriter(
        name,
        apps,
        runs.map((r, i) => r.entry(apps[i]!)),
      );
    }
  });
});

describe("an app that is not due, whose secret holds another app's", () => {
  it('scan and --dry-run report the refusal the real run makes (it was up-to-date in a dry run)', async () => {
    const now = Date.now();
    const other = dueApp('Holder');
    cloud.vault.seed('held-by-holder', 'the-holders-secret-value', { tags: { appId: other.appId } });
    // Two rotator-made secrets, neither due: the run reconciles the app (one is superseded) without rotating it.
    const app = cloud.tenant.addApplication({
      displayName: 'Not due, misnamed secret',
      ownerIds: [cloud.rotator.id],
      tags: ['rotation:secretName=held-by-holder'],
      passwords: [100, 200].map((days) => ({
        displayName: `entra-secret-rotator ${days}`,
        startDateTime: new Date(now - DAY),
        endDateTime: new Date(now + days * DAY),
      })),
    });
    const writes = cloud.log.count(/^graph\.(addPassword|removePassword)$|^keyvault\.setSecret$/);
    for (const args of [
      ['scan', '--json'],
      ['rotate', '--dry-run', '--json'],
    ]) {
      const e = (await cli(args)).entry(app)!;
      expect(e, args.join(' ')).toMatchObject({ action: 'failed', code: 'secret-of-another-app' });
      expect(e.reason).toContain('held-by-holder');
    }
    expect(cloud.log.count(/^graph\.(addPassword|removePassword)$|^keyvault\.setSecret$/)).toBe(writes);

    const real = (await cli(['rotate', '--json', '--app', app.appId])).entry(app)!;
    expect(real).toMatchObject({ action: 'failed', code: 'secret-of-another-app' });
    expect(app.passwordCredentials).toHaveLength(2);
  });
});

describe('the secret changes hands while the rotation runs (the checks around the write)', () => {
  const writerOf = (name: string) => cloud.vault.latest(name)?.tags.appId;

  it("another app's version lands while the new secret is proven: nothing written, the new credential removed", async () => {
    const app = dueApp('Raced before the write', ['rotation:secretName=raced-before']);
    // Found free before the credential is made; another writer takes the name while it is being made.
    cloud.faults.add({
      op: 'graph.addPassword',
      times: 1,
      when: (req) => {
        if (req.path.includes(app.id))
          cloud.vault.seed('raced-before', 'another-apps-value', { tags: { appId: 'other-app' } });
        return false;
      },
    });
    const e = (await cli(['rotate', '--json'])).entry(app)!;
    expect(e).toMatchObject({ action: 'failed' });
    expect(e.reason).toContain('changed while the new secret was proven');
    expect(cloud.vault.versions('raced-before').map((v) => v.value)).toEqual(['another-apps-value']);
    expect(addPasswordsFor(app)).toBe(1);
    expect(rotatorMade(app)).toEqual([]); // made, then removed again
  });

  it('another writer overwrites the secret right after it is stored: reported failed, the new credential removed', async () => {
    const app = dueApp('Raced after the write', ['rotation:secretName=raced-after']);
    let stored = false;
    cloud.faults.add({
      op: 'keyvault.setSecret',
      when: (req) => {
        if (req.path.includes('raced-after')) stored = true;
        return false;
      },
    });
    cloud.faults.add({
      op: 'keyvault.listVersions',
      when: (req) => {
        if (stored && req.path.includes('raced-after')) {
          stored = false;
          cloud.vault.seed('raced-after', 'overwritten-by-a-person', { tags: { appId: 'other-app' } });
        }
        return false;
      },
    });
    const e = (await cli(['rotate', '--json'])).entry(app)!;
    expect(e).toMatchObject({ action: 'failed' });
    expect(e.reason).toContain('was written by someone else right after this run stored the new secret');
    expect(writerOf('raced-after')).toBe('other-app');
    expect(rotatorMade(app)).toEqual([]);
  });
});

describe('nothing leaked', () => {
  it('no secret in anything printed', () => {
    const all = printed.join('\n');
    for (const s of cloud.issuedSecrets()) expect(all.includes(s)).toBe(false);
    expect(all).not.toContain('Tr0ub4dor');
  });
});
