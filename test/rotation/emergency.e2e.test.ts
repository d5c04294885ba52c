// Emergency rotation (contract §8) through runOnce on the simulated cloud: every app in scope gets a new stored
// secret, due or not; with revokeSuperseded every other credential of an app goes (people's included) only once its
// new secret is stored; an app whose new secret could not be stored keeps all it had; the emails name the revoked
// keyIds. And the adaptive limiter: a run whose Graph write budget runs out finishes with nothing failed, its
// limit halved on the 429s.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { inline } from '../../src/handoff.js';
import { defaultSecretName } from '../../src/rotation/policy.js';
import { connect, runOnce, type RunRequest } from '../../src/run.js';
import { loadSettings } from '../../src/settings.js';
import { startSimCloud } from '../sim/cloud.js';
import { graphControl } from '../sim/graph.js';

const DAY = 86_400_000;
const cloud = await startSimCloud({ graphThrottling: true });
afterAll(() => cloud.stop());
const graph = graphControl(cloud);
Object.assign(process.env, cloud.env); // the managed identity credential reads its endpoint from the environment

const logged: Array<{ msg: string; fields?: Record<string, unknown> }> = [];

async function run(request: Partial<RunRequest>, env: Record<string, string> = {}) {
  const settings = loadSettings(
    { ...cloud.env, VERIFY_TIMEOUT_SECONDS: '5', ROTATION_CONCURRENCY: '4', ...env },
    { requireKeyVault: true },
  );
  const deps = await connect(settings, (msg, fields) => void logged.push({ msg, fields }));
  const req = { mode: 'rotate' as const, ...request, mailer: { pollIntervalMs: 10 } };
  return (await runOnce(deps, 'cli', inline, req)).result!.report;
}

function addApp(name: string, passwords: Array<{ displayName: string; days: number }>) {
  const now = Date.now();
  const owner = cloud.tenant.addUser({ displayName: `${name} owner`, mail: `${name}@contoso.com` });
  return cloud.tenant.addApplication({
    displayName: name,
    ownerIds: [cloud.rotator.id, owner.id],
    passwords: passwords.map((p) => ({
      displayName: p.displayName,
      startDateTime: new Date(now - DAY),
      endDateTime: new Date(now + p.days * DAY),
    })),
  });
}

const keyIds = (appId: string) =>
  [...cloud.tenant.applications.values()]
    .find((a) => a.appId === appId)!
    .passwordCredentials.map((c) => c.keyId)
    .sort();

beforeEach(() => {
  cloud.tenant.applications.clear();
  cloud.mail.clear();
  cloud.faults.clear();
  graph.throttle.reset();
  logged.length = 0;
});

describe('emergency rotation: all, force, revokeSuperseded', () => {
  it('rotates every app, revokes every other secret only where the new one is stored, and says so by email', async () => {
    const notDue = addApp('not-due', [{ displayName: 'made by a person', days: 300 }]);
    const two = addApp('two-secrets', [
      { displayName: 'made by a person', days: 200 },
      { displayName: 'another person’s secret', days: 100 },
    ]);
    const refused = addApp('vault-refuses', [{ displayName: 'made by a person', days: 250 }]);
    const refusedBefore = keyIds(refused.appId);
    const notDueBefore = keyIds(notDue.appId);
    const twoBefore = keyIds(two.appId);
    // Key Vault refuses to write this one app's secret.
    const secretOfRefused = defaultSecretName(refused.appId);
    cloud.faults.add({
      op: 'keyvault.setSecret',
      status: 403,
      when: (req) => req.path.includes(`/secrets/${secretOfRefused}`),
    });

    const report = await run({ all: true, force: true, revokeSuperseded: true });

    const entry = (appId: string) => report.apps.find((a) => a.appId === appId)!;
    for (const app of [notDue, two]) {
      const e = entry(app.appId);
      expect(e.action, app.displayName).toBe('rotated');
      // Only the new credential is left, and Key Vault holds its secret.
      expect(keyIds(app.appId)).toEqual([e.keyId]);
      expect(cloud.vault.latest(defaultSecretName(app.appId))?.tags?.keyId).toBe(e.keyId);
    }
    expect(entry(notDue.appId).retiredKeyIds?.sort()).toEqual(notDueBefore);
    expect(entry(two.appId).retiredKeyIds?.sort()).toEqual(twoBefore);
    // The failing app keeps every credential it had, and no new one.
    expect(entry(refused.appId).action).toBe('failed');
    expect(entry(refused.appId).retiredKeyIds ?? []).toEqual([]);
    expect(keyIds(refused.appId)).toEqual(refusedBefore);
    expect(report.summary).toMatchObject({ rotated: 2, failed: 1 });

    // The owner's email names each revoked keyId and says it no longer works.
    const mail = cloud.mail.messages.filter((m) => m.to.includes('two-secrets@contoso.com'));
    expect(mail).toHaveLength(1);
    for (const keyId of twoBefore) expect(mail[0]!.plainText).toContain(keyId);
    expect(mail[0]!.plainText).toMatch(/Revoked now/);
    expect(mail[0]!.plainText).toMatch(/these secrets no longer work/);
    const refusedMail = cloud.mail.messages.filter((m) => m.to.includes('vault-refuses@contoso.com'));
    expect(refusedMail[0]?.plainText ?? '').not.toMatch(/Revoked now/);
  });

  it('without revokeSuperseded, a forced run of every app leaves the people’s secrets in place', async () => {
    const app = addApp('keeps', [{ displayName: 'made by a person', days: 300 }]);
    const before = keyIds(app.appId);
    const report = await run({ all: true, force: true });
    const e = report.apps.find((a) => a.appId === app.appId)!;
    expect(e.action).toBe('rotated');
    expect(keyIds(app.appId)).toEqual([...before, e.keyId!].sort());
  });
});

describe('adaptive concurrency under throttling', () => {
  it('finishes with nothing failed when the write budget runs out, and the limit shrank', async () => {
    const apps = Array.from({ length: 12 }, (_, i) =>
      addApp(`busy-${i}`, [{ displayName: 'made by a person', days: 300 }]),
    );
    // 4 writes per 3 s for the rotator: 24 writes (add + revoke per app) meet the budget however slow the machine.
    graph.throttle.setBudgets({ appTenantWrites: 4, appTenantWritesWindowMs: 3_000 });
    const report = await run(
      { all: true, force: true, revokeSuperseded: true },
      { ROTATION_CONCURRENCY: '8' },
    );
    expect(report.summary).toMatchObject({ rotated: apps.length, failed: 0 });
    expect(graph.throttle.counters.throttled).toBeGreaterThan(0);
    const concurrency = logged.find((l) => l.msg === 'concurrency')!.fields!;
    expect(concurrency.shrinks).toBeGreaterThan(0);
    expect(concurrency.final).toBeLessThan(concurrency.peak as number);
  });
});
