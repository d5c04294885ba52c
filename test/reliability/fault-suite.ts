// Fault matrix, in process: every external step of a rotation × every way it can fail. Each case runs the real
// CLI entry point (`main`) with the fault, then again without faults, then asserts I1-I4 over the whole tenant.
// Defined here, run in three parts (faults-1/2: halves of the matrix, faults-3: the other scenarios) so that
// vitest's workers share the load.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GraphApi } from '../../src/azure/graph.js';
import { Vault } from '../../src/azure/vault.js';
import { defaultSecretName } from '../../src/rotation/policy.js';
import { inline } from '../../src/handoff.js';
import { connect, createServices, runOnce } from '../../src/run.js';
import { loadSettings } from '../../src/settings.js';
import { startSimCloud, type SimCloud } from '../sim/cloud.js';
import type { FaultRule } from '../sim/http.js';
import {
  checkNothingBroken,
  checkNothingChanged,
  checkNothingDoubled,
  checkNothingLeaked,
  checkNothingLost,
  checkOneMailPerRecipient,
  cliInProcess,
  DAY,
  Emitted,
  expireLocks,
  lastSeq,
  productEnv,
  recordResults,
  resetSmallTenant,
  snapshotKeyIds,
  snapshotPersonCredentials,
  startCase,
  STEPS,
} from './harness.js';

export type FaultSuitePart = 'matrix-1' | 'matrix-2' | 'scenarios';

/** Registers one part of the fault suite in the calling test file. */
export function defineFaultSuite(part: FaultSuitePart): void {
  const scenarios = part === 'scenarios';
  let cloud: SimCloud;
  let env: Record<string, string>;
  const rows: unknown[] = [];

  beforeAll(async () => {
    cloud = await startSimCloud({ graphThrottling: false });
    env = productEnv(cloud, { AzureWebJobsStorage: inject('azuriteConnectionString') });
    Object.assign(process.env, env);
  });
  afterAll(async () => {
    recordResults(`faults.test.ts#${part}`, rows);
    await cloud?.stop();
  });

  const cli = (args: string[], emitted: Emitted, label: string) => cliInProcess(args, env, emitted, label);

  // The external steps of a run, with the status that "fails always" means for each (403: permission revoked).
  // `alwaysExit`: the CLI's exit code when the step never works (1: apps failed, e.g. a two-password app that cannot
  // make room; 0: only notification was affected, which never fails a rotation).
  const failsAlways: Record<(typeof STEPS)[number]['op'], { always: number; alwaysExit: number }> = {
    'graph.listOwnedObjects': { always: 403, alwaysExit: 1 },
    'graph.batch': { always: 500, alwaysExit: 0 },
    'graph.addPassword': { always: 403, alwaysExit: 1 },
    'entra.token': { always: 500, alwaysExit: 1 },
    'keyvault.setSecret': { always: 403, alwaysExit: 1 },
    'keyvault.listVersions': { always: 500, alwaysExit: 1 },
    'acs.send': { always: 500, alwaysExit: 0 },
    'graph.removePassword': { always: 500, alwaysExit: 1 },
  };
  const steps = STEPS.map((s) => ({ ...s, ...failsAlways[s.op] }));

  type Kind =
    | 'fails once (500)'
    | 'fails always'
    | '429 burst'
    | '503'
    | 'reset'
    | 'commitThenReset'
    | 'commitThen503'
    | 'commitThen504';
  // commitThen5xx: the operation is done, then a gateway answers an error anyway (the write landed unseen).
  const kinds: Kind[] = [
    'fails once (500)',
    'fails always',
    '429 burst',
    '503',
    'reset',
    'commitThenReset',
    'commitThen503',
    'commitThen504',
  ];

  function rule(op: string, kind: Kind, always: number): FaultRule {
    switch (kind) {
      case 'fails once (500)':
        return { op, status: 500, times: 1 };
      case 'fails always':
        return { op, status: always };
      case '429 burst':
        return { op, status: 429, times: 3, retryAfterSeconds: 1 };
      case '503':
        return { op, status: 503, times: 2, retryAfterSeconds: 1 };
      case 'reset':
        return { op, kind: 'reset', times: 1 };
      case 'commitThenReset':
        return { op, kind: 'commitThenReset', times: 1 };
      case 'commitThen503':
        return { op, kind: 'commitThenStatus', status: 503, retryAfterSeconds: 1, times: 1 };
      case 'commitThen504':
        return { op, kind: 'commitThenStatus', status: 504, times: 1 };
    }
  }

  const matrix = steps
    .flatMap((s) => kinds.map((kind) => ({ ...s, kind })))
    .filter((_, n) => !scenarios && n % 2 === (part === 'matrix-1' ? 0 : 1));

  if (!scenarios)
    describe('fault matrix (in process)', () => {
      it.each(matrix)('$step × $kind', async ({ step, op, always, alwaysExit, kind }) => {
        const { emitted, mailFrom, persons, before, seq } = await startCase(cloud);

        const fault = cloud.faults.add(rule(op, kind, always));
        const faulted = await cli(['rotate', '--json'], emitted, 'faulted run');
        cloud.faults.clear();
        checkOneMailPerRecipient(cloud, mailFrom);
        const mailMid = cloud.mail.messages.length;
        checkNothingDoubled(cloud, before);
        // A transient fault (once, a burst, a lost connection) is absorbed: the run still succeeds for every app.
        expect(faulted.code, faulted.stderr).toBe(kind === 'fails always' ? alwaysExit : 0);
        // A run that cannot list its apps has nothing to act on: it must change nothing.
        if (op === 'graph.listOwnedObjects' && kind === 'fails always') {
          expect(faulted.code).toBe(1);
          checkNothingChanged(cloud, seq);
        }

        const between = snapshotKeyIds(cloud);
        const clean = await cli(['rotate', '--json'], emitted, 'clean run');
        expect(clean.code, clean.stderr).toBe(0);
        checkNothingDoubled(cloud, between);
        checkOneMailPerRecipient(cloud, mailMid);
        checkNothingLost(cloud);
        checkNothingBroken(cloud, persons, { fresh: true });
        emitted.addMail(cloud, mailFrom);
        emitted.addRequestUrls(cloud, seq);
        checkNothingLeaked(cloud, emitted);

        rows.push({
          step,
          kind,
          faultHits: fault.hits,
          faultedExit: faulted.code,
          faulted: faulted.report?.summary ?? faulted.stderr.split('\n').filter(Boolean).at(-1),
          cleanExit: clean.code,
          clean: clean.report?.summary,
        });
      });
    });

  // Two steps failing together: the compensation itself fails, so the run must leave the orphan for the next one.
  const compound = [
    {
      name: 'Key Vault refuses and removePassword is refused',
      faults: ['keyvault.setSecret', 'graph.removePassword'],
    },
    {
      name: 'the proof never works and removePassword is refused',
      faults: ['entra.token', 'graph.removePassword'],
    },
  ] as const;

  if (scenarios)
    describe('compound faults (compensation fails)', () => {
      it.each(compound)('$name: the orphan is removed by the next run', async ({ faults }) => {
        const { emitted, mailFrom, persons, before, seq } = await startCase(cloud);
        // 403: the permission is taken away mid-run (quick to fail, unlike a 500 that is retried with backoff).
        for (const op of faults) cloud.faults.add({ op, status: 403 });
        const faulted = await cli(['rotate', '--json'], emitted, 'faulted run');
        cloud.faults.clear();
        expect(faulted.code).toBe(1);
        checkNothingDoubled(cloud, before);
        // The failed apps' new credentials are still there: orphans, with their secrets only in a dead run's memory.
        const orphans = faulted.report!.apps.filter((a) =>
          /next run removes it as an orphan/.test(a.reason ?? ''),
        );
        expect(orphans.length).toBeGreaterThan(0);

        const between = snapshotKeyIds(cloud);
        const clean = await cli(['rotate', '--json'], emitted, 'clean run');
        expect(clean.code, clean.stderr).toBe(0);
        for (const o of orphans)
          expect(clean.report!.apps.find((a) => a.appId === o.appId)?.orphansRemoved).toHaveLength(1);
        checkNothingDoubled(cloud, between);
        checkNothingLost(cloud);
        checkNothingBroken(cloud, persons, { fresh: true });
        emitted.addMail(cloud, mailFrom);
        emitted.addRequestUrls(cloud, seq);
        checkNothingLeaked(cloud, emitted);
        rows.push({ step: faults.join(' + '), kind: 'compound', faulted: faulted.report?.summary });
      });
    });

  if (scenarios)
    describe('a Graph outage on addPassword for one app', () => {
      it('three 503s in a row (Retry-After 1): each is resolved by looking, and the app is still rotated once', async () => {
        const {
          tenant: { due },
          emitted,
          mailFrom,
          persons,
          before,
        } = await startCase(cloud);
        const fault = cloud.faults.add({
          op: 'graph.addPassword',
          status: 503,
          retryAfterSeconds: 1,
          times: 3,
          when: (req) => req.path.includes(due.id),
        });
        const faulted = await cli(['rotate', '--json'], emitted, 'faulted run');
        cloud.faults.clear();
        expect(fault.hits).toBe(3);
        expect(faulted.code, faulted.stderr).toBe(0);
        expect(faulted.report!.apps.find((a) => a.appId === due.appId)?.action).toBe('rotated');
        checkNothingDoubled(cloud, before);
        checkNothingLost(cloud);
        checkNothingBroken(cloud, persons, { fresh: true });
        emitted.addMail(cloud, mailFrom);
        checkNothingLeaked(cloud, emitted);
        rows.push({ step: 'addPassword', kind: '503 ×3 for one app', faulted: faulted.report?.summary });
      });
    });

  // A connection that never answers: Graph and Key Vault calls time out (60 s in production, 1.5 s here) and are then
  // handled like a lost connection (reads retried, an addPassword or a Key Vault write resolved by looking), so a hung
  // call cannot stall the run or keep the app's lock renewed for ever.
  const hangs = [
    { op: 'keyvault.setSecret', kind: 'hang' },
    { op: 'keyvault.setSecret', kind: 'commitThenHang' },
    { op: 'keyvault.listVersions', kind: 'hang' },
    { op: 'graph.listOwnedObjects', kind: 'hang' },
    { op: 'graph.getApplication', kind: 'hang' },
    { op: 'graph.addPassword', kind: 'hang' },
    { op: 'graph.addPassword', kind: 'commitThenHang' },
    { op: 'graph.removePassword', kind: 'commitThenHang' },
  ] as const;

  if (scenarios)
    describe('hung connections to Graph and Key Vault', () => {
      it.each(hangs)('$op × $kind', async ({ op, kind }) => {
        const { emitted, mailFrom, persons, before } = await startCase(cloud);

        const fault = cloud.faults.add({ op, kind, times: 1 });
        const settings = loadSettings(env, { requireKeyVault: true });
        const services = createServices(settings);
        const graph = new GraphApi(services.credential, settings, { timeoutMs: 1_500 });
        const vault = new Vault(
          services.credential,
          { ...settings, keyVaultUrl: settings.keyVaultUrl! },
          { timeoutMs: 1_500 },
        );
        const started = Date.now();
        const deps = await connect(settings, emitted.logger('hung run log'), { ...services, graph, vault });
        const { report } = (await runOnce(deps, 'cli', inline, { mode: 'rotate' })).result!;
        emitted.add('hung run report', report);
        cloud.faults.clear();
        expect(fault.hits).toBe(1);
        expect(Date.now() - started).toBeLessThan(20_000);
        expect(report.summary.failed, JSON.stringify(report.apps)).toBe(0);
        checkNothingDoubled(cloud, before);

        const between = snapshotKeyIds(cloud);
        const clean = await cli(['rotate', '--json'], emitted, 'clean run');
        expect(clean.code, clean.stderr).toBe(0);
        checkNothingDoubled(cloud, between);
        checkNothingLost(cloud);
        checkNothingBroken(cloud, persons, { fresh: true });
        emitted.addMail(cloud, mailFrom);
        checkNothingLeaked(cloud, emitted);
        rows.push({
          step: op,
          kind,
          faulted: report.summary,
          ms: Date.now() - started,
          clean: clean.report?.summary,
        });
      });
    });

  if (scenarios)
    describe("a person's credential is never removed", () => {
      it("a two-secret app whose other slot holds a person's secret is refused, even forced, and keeps both", async () => {
        await expireLocks(inject('azuriteConnectionString'), cloud);
        cloud.faults.clear();
        resetSmallTenant(cloud);
        const now = Date.now();
        const app = cloud.tenant.addApplication({
          displayName: 'Loyalty App',
          signInAudience: 'PersonalMicrosoftAccount',
          ownerIds: [cloud.rotator.id],
          passwords: [
            { displayName: null, startDateTime: new Date(now - 400 * DAY), endDateTime: new Date(now - DAY) },
            {
              displayName: 'entra-secret-rotator 2026-06-01 current',
              startDateTime: new Date(now - 170 * DAY),
              endDateTime: new Date(now + 5 * DAY),
            },
          ],
        });
        const current = app.passwordCredentials[1]!;
        cloud.vault.seed(defaultSecretName(app.appId), current.secretText, {
          tags: { appId: app.appId, keyId: current.keyId },
        });
        const emitted = new Emitted();
        const persons = snapshotPersonCredentials(cloud);
        const before = snapshotKeyIds(cloud);
        const seq = lastSeq(cloud);
        const forced = await cli(['rotate', '--app', app.appId, '--force', '--json'], emitted, 'forced run');
        expect(forced.code).toBe(1);
        expect(forced.report!.apps[0]).toMatchObject({ action: 'failed' });
        expect(forced.report!.apps[0]!.reason).toMatch(/only 2 client secrets/);
        expect(cloud.log.count(/^graph\.(addPassword|removePassword)$/, (e) => e.seq > seq)).toBe(0);
        checkNothingDoubled(cloud, before);
        checkNothingBroken(cloud, persons, { fresh: false });
        checkNothingLost(cloud);
        checkNothingLeaked(cloud, emitted);
      });
    });
}
