// Concurrent runs: 2 and 4 CLI child processes at once over one tenant, with blob-lease locks in Azurite.
// I3: each due app gets exactly one new credential; every other run reports it up to date or locked.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { rotateHttp } from '../../src/functions/rotateHttp.js';
import type { Report } from '../../src/rotation/report.js';
import { startSimCloud, type SimCloud } from '../sim/cloud.js';
import {
  checkNothingBroken,
  checkNothingDoubled,
  checkNothingLeaked,
  checkNothingLost,
  counters,
  DAY,
  Emitted,
  expireLocks,
  productEnv,
  recordResults,
  resetSmallTenant,
  snapshotKeyIds,
  snapshotPersonCredentials,
  startCli,
} from './harness.js';
import { invocation, operatorToken, rotateRequest } from '../functions/host.js';

let cloud: SimCloud;
let storage: string;
const rows: unknown[] = [];

beforeAll(async () => {
  cloud = await startSimCloud({ graphThrottling: false });
  storage = inject('azuriteConnectionString');
});
afterAll(async () => {
  recordResults('concurrency.test.ts', rows);
  await cloud?.stop();
});

/** The Functions app's POST /api/rotate, in this process, shaped like a CLI result. */
async function httpRotate() {
  const res = await rotateHttp(rotateRequest('{}', await operatorToken(cloud)), invocation('rotate'));
  return { code: res.status === 200 ? 0 : res.status, stdout: JSON.stringify(res.jsonBody), stderr: '' };
}

describe('concurrent runs with blob-lease locks', () => {
  it.each([
    { runs: 2, lockWait: 10, http: false },
    { runs: 4, lockWait: 1, http: false },
    { runs: 2, lockWait: 5, http: true },
  ])(
    '$runs simultaneous CLI runs (LOCK_WAIT_SECONDS=$lockWait), plus POST /api/rotate: $http',
    async ({ runs, lockWait, http }) => {
      await expireLocks(storage, cloud);
      const { due, expired, personal } = resetSmallTenant(cloud);
      const owner = cloud.tenant.addUser({ displayName: 'Bob Chen', mail: 'bob@contoso.com' });
      const extra = Array.from({ length: 4 }, (_, i) =>
        cloud.tenant.addApplication({
          displayName: `Service ${i + 1}`,
          ownerIds: [cloud.rotator.id, owner.id],
          passwords: [
            {
              displayName: 'created in the portal',
              startDateTime: new Date(Date.now() - 300 * DAY),
              endDateTime: new Date(Date.now() + (i + 1) * DAY),
            },
          ],
        }),
      );
      const dueAppIds = [due.appId, expired.appId, personal.appId, ...extra.map((a) => a.appId)];
      // A rotation takes a moment (replication, latency), so the runs really overlap.
      cloud.tenant.replicationDelayMs = 300;
      cloud.faults.latencyMs = { graph: 20, entra: 50 };
      const emitted = new Emitted();
      const mailFrom = cloud.mail.messages.length;
      const persons = snapshotPersonCredentials(cloud);
      const before = snapshotKeyIds(cloud);
      const startedAt = Date.now();

      const env = productEnv(cloud, { AzureWebJobsStorage: storage, LOCK_WAIT_SECONDS: String(lockWait) });
      Object.assign(process.env, env);
      const results = await Promise.all([
        ...Array.from({ length: runs }, () => startCli(['rotate', '--json'], env).done),
        ...(http ? [httpRotate()] : []),
      ]);
      counters.concurrentRuns += results.length;
      cloud.faults.clear();
      cloud.tenant.replicationDelayMs = 0;

      results.forEach((r, i) => {
        emitted.add(`run ${i} stdout`, r.stdout);
        emitted.add(`run ${i} stderr`, r.stderr);
      });
      for (const r of results) expect(r.code, r.stderr).toBe(0);
      const reports = results.map((r) => JSON.parse(r.stdout) as Report);

      checkNothingDoubled(cloud, before);
      const outcomes: Record<string, string[]> = {};
      for (const appId of dueAppIds) {
        // Exactly one addPassword reached Graph for each due app, across all the runs.
        const adds = cloud.log.count(
          'graph.addPassword',
          (e) => e.at >= startedAt && e.subject === appId && e.status < 300,
        );
        expect(adds, `addPassword calls for ${appId}`).toBe(1);
        const actions = reports.map((rep) => rep.apps.find((a) => a.appId === appId));
        expect(actions.filter((a) => a?.action === 'rotated')).toHaveLength(1);
        for (const a of actions)
          if (a?.action !== 'rotated')
            expect(
              a?.action === 'up-to-date' || (a?.action === 'skipped' && a.reason === 'locked by another run'),
              JSON.stringify(a),
            ).toBe(true);
        outcomes[appId] = actions.map((a) => (a?.action === 'skipped' ? 'locked' : (a?.action ?? 'missing')));
      }
      checkNothingLost(cloud);
      checkNothingBroken(cloud, persons, { fresh: true });
      emitted.addMail(cloud, mailFrom);
      checkNothingLeaked(cloud, emitted);
      // One email per recipient per run that changed something: owners hear of each rotation once.
      const toAlice = cloud.mail.messages.slice(mailFrom).filter((m) => m.to.includes('alice@contoso.com'));
      expect(toAlice.length).toBeGreaterThanOrEqual(1);

      const tally = (action: string) =>
        Object.values(outcomes)
          .flat()
          .filter((a) => a === action).length;
      rows.push({
        runs,
        http,
        lockWaitSeconds: lockWait,
        dueApps: dueAppIds.length,
        rotated: tally('rotated'),
        upToDate: tally('up-to-date'),
        locked: tally('locked'),
        ms: Date.now() - startedAt,
      });
    },
  );
});
