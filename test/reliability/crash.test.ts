// The process killed right after each external step committed (a real CLI child, SIGKILL), and the lock storage
// misbehaving (a lease held by someone else, storage unreachable). Then a clean run, then I1-I4 over the tenant.
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_CONTAINER } from '../../src/azure/locks.js';
import type { SimCloud } from '../sim/cloud.js';
import { freePort } from '../sim/http.js';
import {
  checkNothingBroken,
  checkNothingDoubled,
  checkNothingLeaked,
  checkNothingLost,
  cliInProcess,
  counters,
  Emitted,
  expireLocks,
  runKilledAfter,
  recordResults,
  resetSmallTenant,
  snapshotKeyIds,
  snapshotPersonCredentials,
  startCase,
  startCli,
  STEPS,
  startHarnessCloud,
  type HarnessCloud,
} from './harness.js';

let h: HarnessCloud;
let cloud: SimCloud;
let env: Record<string, string>;
let storage: string;
const rows: unknown[] = [];

beforeAll(async () => {
  h = await startHarnessCloud();
  ({ cloud, env, storage } = h);
});
afterAll(async () => {
  recordResults('crash.test.ts', rows);
  await cloud?.stop();
});

/** The clean run after a fault, and the invariants over the whole tenant. */
async function recoverAndCheck(emitted: Emitted, persons: Map<string, Set<string>>, mailFrom: number) {
  const between = snapshotKeyIds(cloud);
  const clean = await cliInProcess(['rotate', '--json'], env, emitted, 'clean run');
  expect(clean.code, clean.stderr).toBe(0);
  checkNothingDoubled(cloud, between);
  checkNothingLost(cloud);
  checkNothingBroken(cloud, persons, { fresh: true });
  emitted.addMail(cloud, mailFrom);
  checkNothingLeaked(cloud, emitted);
  return clean;
}

describe('process killed right after the step (CLI child, SIGKILL)', () => {
  it.each(STEPS)('killed after $step', async ({ step, op }) => {
    const { emitted, mailFrom, persons, before } = await startCase(cloud);

    // Killed once it has reached the step; its leases (they lapse within 60 s) are broken instead of waited for.
    const killed = await runKilledAfter(h, ['rotate', '--json'], { op });
    emitted.add('killed run stdout', killed.stdout);
    emitted.add('killed run stderr', killed.stderr);
    checkNothingDoubled(cloud, before);
    const clean = await recoverAndCheck(emitted, persons, mailFrom);
    rows.push({ step, kind: 'process killed', clean: clean.report?.summary });
  });
});

describe('process killed without lock storage (a workstation CLI)', () => {
  it('killed after addPassword: the next run waits 2 × VERIFY_TIMEOUT_SECONDS, then removes the orphan', async () => {
    const { tenant, emitted, mailFrom, persons, before } = await startCase(cloud);
    const { due } = tenant;
    const noLocks = { ...env, AzureWebJobsStorage: '', VERIFY_TIMEOUT_SECONDS: '1' };
    const killed = await runKilledAfter(
      h,
      ['rotate', '--json'],
      { op: 'graph.addPassword', when: (req) => req.path.includes(due.id) },
      noLocks,
    );
    emitted.add('killed run stdout', killed.stdout);
    emitted.add('killed run stderr', killed.stderr);
    checkNothingDoubled(cloud, before);
    // Another run's credential may be in flight for up to VERIFY_TIMEOUT_SECONDS: an unlocked run leaves it alone
    // until it is twice that old.
    await new Promise((r) => setTimeout(r, 2_100));
    const between = snapshotKeyIds(cloud);
    const clean = await cliInProcess(['rotate', '--json'], noLocks, emitted, 'clean run');
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.report!.apps.find((a) => a.appId === due.appId)?.orphansRemoved).toHaveLength(1);
    checkNothingDoubled(cloud, between);
    checkNothingLost(cloud);
    checkNothingBroken(cloud, persons, { fresh: true });
    emitted.addMail(cloud, mailFrom);
    checkNothingLeaked(cloud, emitted);
    rows.push({ step: 'addPassword', kind: 'process killed, no lock storage', clean: clean.report?.summary });
  });
});

describe('verbose SDK logging', () => {
  it('a rotation with AZURE_LOG_LEVEL=verbose (operators debugging) prints no secret on stderr', async () => {
    await expireLocks(storage, cloud);
    cloud.faults.clear();
    resetSmallTenant(cloud);
    const emitted = new Emitted();
    const run = startCli(['rotate', '--json'], { ...env, AZURE_LOG_LEVEL: 'verbose' });
    const done = await run.done;
    emitted.add('verbose run stdout', done.stdout);
    emitted.add('verbose run stderr', done.stderr);
    expect(done.code, done.stderr.slice(-2000)).toBe(0);
    expect(done.stderr.length).toBeGreaterThan(10_000); // the SDKs did log
    checkNothingLeaked(cloud, emitted);
  });
});

describe('lock storage', () => {
  it('an app whose lease another holder keeps is skipped "locked by another run", then rotated once it is free', async () => {
    const { tenant, emitted, mailFrom, persons, before } = await startCase(cloud);
    const { due } = tenant;

    const container = BlobServiceClient.fromConnectionString(storage).getContainerClient(LOCK_CONTAINER);
    await container.createIfNotExists();
    const blob = container.getBlockBlobClient(`${due.appId.toLowerCase()}.lock`);
    if (!(await blob.exists())) await blob.upload('', 0);
    const lease = blob.getBlobLeaseClient();
    await lease.acquireLease(60);
    const held = await cliInProcess(['rotate', '--json'], env, emitted, 'run while locked');
    await lease.releaseLease();
    expect(held.code).toBe(0);
    const app = held.report!.apps.find((a) => a.appId === due.appId)!;
    expect(app).toMatchObject({ action: 'skipped', reason: 'locked by another run' });
    checkNothingDoubled(cloud, before);
    const clean = await recoverAndCheck(emitted, persons, mailFrom);
    expect(clean.report!.apps.find((a) => a.appId === due.appId)?.action).toBe('rotated');
    rows.push({ step: 'blob lease', kind: 'held by another run', faulted: held.report?.summary });
  });

  it('lock storage unreachable: due apps fail without any new credential, and a later run rotates them', async () => {
    counters.faultCases++;
    cloud.faults.clear();
    resetSmallTenant(cloud);
    const emitted = new Emitted();
    const mailFrom = cloud.mail.messages.length;
    const persons = snapshotPersonCredentials(cloud);
    const before = snapshotKeyIds(cloud);
    const port = await freePort(); // nothing listens there
    const closed = storage.replace(
      /BlobEndpoint=[^;]+/,
      `BlobEndpoint=http://127.0.0.1:${port}/devstoreaccount1`,
    );
    const started = Date.now();
    const faulted = await cliInProcess(
      ['rotate', '--json'],
      { ...env, AzureWebJobsStorage: closed },
      emitted,
      'run without lock storage',
    );
    const ms = Date.now() - started;
    expect(faulted.code).toBe(1);
    expect(faulted.report!.summary.failed).toBeGreaterThan(0);
    expect(faulted.report!.summary.rotated).toBe(0);
    checkNothingDoubled(cloud, before);
    // Without its lock no app is touched: no credential was added.
    expect(cloud.log.count('graph.addPassword', (e) => e.at >= started)).toBe(0);
    await recoverAndCheck(emitted, persons, mailFrom);
    rows.push({ step: 'blob lease', kind: 'storage unreachable', faulted: faulted.report?.summary, ms });
  });
});
