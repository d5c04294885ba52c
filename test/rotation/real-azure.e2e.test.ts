// Where real Entra and Graph differ from a friendly simulator (issue 14, contract §8): apps without a service
// principal, sign-in errors that waiting cannot cure, Conditional Access, removePassword of a gone keyId, and the
// time budget of an HTTP run. Assertions on the simulator's state and request log, never on elapsed time.
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';
import { timeBudget } from '../../src/handoff.js';
import { ROTATOR_PREFIX } from '../../src/rotation/checks.js';
import type { Report } from '../../src/rotation/report.js';
import { connect, runOnce } from '../../src/run.js';
import { loadSettings } from '../../src/settings.js';
import { startSimCloud } from '../sim/cloud.js';
import type { SimApplication } from '../sim/tenant.js';

const DAY = 86_400_000;
const REPLICATION_MS = 300;
const cloud = await startSimCloud({ replicationDelayMs: REPLICATION_MS, graphThrottling: false });
afterAll(() => cloud.stop());
Object.assign(process.env, cloud.env); // the rotator's own credential reads the environment
const baseEnv: Record<string, string | undefined> = {
  ...process.env,
  ...cloud.env,
  VERIFY_TIMEOUT_SECONDS: '300',
};
delete baseEnv.AzureWebJobsStorage;
const printed: string[] = [];

beforeEach(() => {
  cloud.faults.clear();
  cloud.tenant.replicationDelayMs = REPLICATION_MS;
});

const cli = (args: string[], env: Record<string, string> = {}) =>
  runCli([...args, '--json'], { ...baseEnv, ...env }, printed);

const entry = (r: Report | undefined, app: SimApplication) => r?.apps.find((a) => a.appId === app.appId);
const rotatorMade = (app: SimApplication) =>
  app.passwordCredentials.filter((c) => (c.displayName ?? '').startsWith(ROTATOR_PREFIX));
const addPasswords = (app: SimApplication) =>
  cloud.log.count('graph.addPassword', (e) => e.path.includes(app.id));
const signIns = (app: SimApplication) => cloud.log.count('entra.token', (e) => e.subject === app.appId);
const spLookups = () =>
  cloud.log.count('graph.listServicePrincipals', (e) => decodeURIComponent(e.query).includes('appId in ('));

function addApp(name: string, expiresInDays: number, opts: { servicePrincipal?: boolean } = {}) {
  const now = cloud.clock.nowMs();
  return cloud.tenant.addApplication({
    displayName: name,
    ownerIds: [cloud.rotator.id],
    passwords: [
      {
        displayName: 'made by a person',
        startDateTime: new Date(now - 100 * DAY),
        endDateTime: new Date(now + expiresInDays * DAY),
      },
    ],
    ...opts,
  });
}

describe('apps without a service principal (§8)', () => {
  const stuck = Array.from({ length: 20 }, (_, i) => addApp(`No SP ${i}`, 5, { servicePrincipal: false }));
  const notDue = addApp('No SP, not due', 200, { servicePrincipal: false });
  const healthy = addApp('With SP, due', 5);

  it('a scan and a dry run report a due app without one as failed, saying how to create it', async () => {
    for (const args of [['scan'], ['rotate', '--dry-run']]) {
      const { report } = await cli(args);
      for (const app of stuck)
        expect(entry(report, app), args.join(' ')).toMatchObject({
          action: 'failed',
          code: 'no-service-principal',
          reason: expect.stringContaining(`az ad sp create --id ${app.appId}`),
        });
      expect(entry(report, notDue)?.action).toBe('up-to-date');
      expect(entry(report, healthy)?.action).toBe('would-rotate');
    }
  });

  it('a run fails them before any change, with lookups batched per page, and rotates the others', async () => {
    const lookupsBefore = spLookups();
    const { code, report } = await cli(['rotate']);
    expect(code).toBe(1);
    for (const app of stuck) {
      const e = entry(report, app);
      expect(e).toMatchObject({ action: 'failed', code: 'no-service-principal' });
      expect(e?.reason).toContain('service principal');
      // Nothing added, and no sign-in tried: no waiting out VERIFY_TIMEOUT_SECONDS for them.
      expect(addPasswords(app)).toBe(0);
      expect(signIns(app)).toBe(0);
      expect(app.passwordCredentials).toHaveLength(1);
    }
    expect(entry(report, notDue)?.action).toBe('up-to-date');
    expect(entry(report, healthy)?.action).toBe('rotated');
    // 21 apps that may be due, in one page: two `in` filters of at most 15 values, not one call per app.
    expect(spLookups() - lookupsBefore).toBeLessThanOrEqual(2);
    for (const app of stuck) cloud.tenant.deleteApplication(app.id);
  });
});

describe('proof errors waiting cannot cure (§8)', () => {
  it('a service principal deleted between the check and the proof stops the proof at once, naming AADSTS7000229', async () => {
    const app = addApp('SP deleted mid-run', 5);
    const stop = cloud.log.on((e) => {
      if (e.op === 'graph.addPassword' && e.path.includes(app.id))
        cloud.tenant.removeServicePrincipal(app.appId);
    });
    const { report } = await cli(['rotate', '--app', app.appId]).finally(stop);
    const e = entry(report, app);
    expect(e?.action).toBe('failed');
    expect(e?.reason).toContain('AADSTS7000229');
    expect(e?.reason).not.toContain('VERIFY_TIMEOUT_SECONDS');
    expect(signIns(app)).toBe(1); // not retried: waiting cannot cure it
    expect(rotatorMade(app)).toHaveLength(0); // the new credential removed again
    expect(cloud.vault.latest(`app-${app.appId}`)).toBeUndefined();
  });

  it('a Conditional-Access-blocked app rotates: the secret was accepted before issuance was blocked', async () => {
    const app = addApp('Blocked by CA', 5);
    cloud.tenant.blockByConditionalAccess(app.appId);
    const { report } = await cli(['rotate', '--app', app.appId]);
    const e = entry(report, app);
    expect(e?.action).toBe('rotated');
    expect(e?.reason).toContain('accepted by Entra');
    expect(e?.reason).toContain('Conditional Access');
    expect(e?.reason).toContain('AADSTS53003');
    const made = rotatorMade(app);
    expect(made).toHaveLength(1);
    expect(cloud.vault.latest(e!.secretUri!.split('/')[4]!)?.tags?.keyId).toBe(made[0]!.keyId);
  });
});

describe('removePassword of a gone keyId (400 on real Graph)', () => {
  it('a retry after a lost response is not a failure', async () => {
    const app = addApp('Orphan swept through a lost answer', 5);
    const now = cloud.clock.nowMs();
    const orphan = cloud.tenant.issuePassword(app, {
      displayName: `${ROTATOR_PREFIX} orphan`,
      startDateTime: new Date(now - 2 * DAY),
      endDateTime: new Date(now + 100 * DAY),
    });
    // The removal lands, its answer is lost; the retry finds the keyId gone (400 by default, as real Graph).
    cloud.faults.add({ op: 'graph.removePassword', kind: 'commitThenReset', times: 1 });
    const { report } = await cli(['rotate', '--app', app.appId]);
    const e = entry(report, app);
    expect(e?.action).toBe('rotated');
    expect(e?.orphansRemoved).toEqual([orphan.keyId]);
    expect(app.passwordCredentials.some((c) => c.keyId === orphan.keyId)).toBe(false);
    expect(cloud.log.count('graph.removePassword', (x) => x.status === 400)).toBeGreaterThan(0);
  });
});

describe('an HTTP run within its time budget', () => {
  it('cuts a proof still waiting for replication at the budget and queues the app', async () => {
    const storage = inject('azuriteConnectionString');
    const app = addApp('Slow replication', 5);
    cloud.tenant.replicationDelayMs = 60 * 60_000; // never within VERIFY_TIMEOUT_SECONDS (300 s)
    const settings = loadSettings({ ...baseEnv, AzureWebJobsStorage: storage }, { requireKeyVault: true });
    const deps = await connect(settings, () => undefined);
    const { result, queued } = await runOnce(deps, 'http', timeBudget(1500), {
      mode: 'rotate',
      appIds: [app.appId],
    });
    const e = result!.report.apps.find((a) => a.appId === app.appId);
    // Cut at the budget (had it waited out VERIFY_TIMEOUT_SECONDS it would have been reported failed).
    expect(e).toMatchObject({ action: 'skipped', code: 'handed-off' });
    expect(e?.reason).toContain('queued for a worker');
    expect(queued).toBe(1);
    expect(addPasswords(app)).toBe(1);
    expect(signIns(app)).toBeGreaterThan(0);
    expect(rotatorMade(app)).toHaveLength(0); // its credential removed; the worker starts afresh
    expect(cloud.vault.latest(`app-${app.appId}`)).toBeUndefined();
  });
});

describe('an HTTP run and a held lock', () => {
  it('waits for the lock no longer than its time budget (not LOCK_WAIT_SECONDS)', async () => {
    const storage = inject('azuriteConnectionString');
    const app = addApp('Locked elsewhere', 5);
    const env = { ...baseEnv, AzureWebJobsStorage: storage, LOCK_WAIT_SECONDS: '600' };
    const settings = loadSettings(env, { requireKeyVault: true });
    const deps = await connect(settings, () => undefined);
    const held = await deps.services.locks!.acquire(app.appId, 0); // another run holds the app
    try {
      // 5 s: long enough for the app to reach its lock on a busy machine (300 ms handed it off before it got there),
      // far below LOCK_WAIT_SECONDS (600 s).
      const { result } = await runOnce(deps, 'http', timeBudget(5_000), {
        mode: 'rotate',
        appIds: [app.appId],
      });
      expect(result!.report.apps[0]).toMatchObject({ action: 'skipped', code: 'locked-by-another-run' });
      expect(addPasswords(app)).toBe(0);
    } finally {
      await held?.release();
    }
  });
});

afterAll(() => {
  const out = printed.join('\n');
  for (const secret of cloud.issuedSecrets()) expect(out).not.toContain(secret);
});
