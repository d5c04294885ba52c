// A run killed in the middle of its reconciliations leaves the leases of the apps it was working on for up to a
// minute. An app the rotator cannot rotate (a personal-account app whose two password slots hold people's secrets)
// must still be reported failed by a run in that minute, not "skipped, locked by another run": the soak's 300-app
// years found such apps unreported for days after a kill (seed 2 days 211-213, seed 1 days 280-286), because the
// simulated days after a kill pass within the real minute a dead run's lease lasts in Azurite.
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { LOCK_CONTAINER } from '../../src/azure/locks.js';
import { startSimCloud, type SimCloud } from '../sim/cloud.js';
import { cliInProcess, DAY, Emitted, expireLocks, productEnv, startCli } from './harness.js';

let cloud: SimCloud;
let env: Record<string, string>;
let storage: string;

beforeAll(async () => {
  cloud = await startSimCloud({ graphThrottling: false });
  storage = inject('azuriteConnectionString');
  env = productEnv(cloud, { AzureWebJobsStorage: storage });
  Object.assign(process.env, env);
});
afterAll(async () => {
  await expireLocks(storage, cloud);
  await cloud?.stop();
});

const person = (name: string, endsInDays: number) => ({
  displayName: name,
  startDateTime: new Date(Date.now() - 300 * DAY),
  endDateTime: new Date(Date.now() + endsInDays * DAY),
});

it('a stuck app whose lease a killed run still holds is reported failed by the next run', async () => {
  const stuck = cloud.tenant.addApplication({
    displayName: 'personal-full, both slots people’s',
    ownerIds: [cloud.rotator.id],
    signInAudience: 'AzureADandPersonalMicrosoftAccount',
    passwords: [person('made by a person', 10), person('made by another person', 20)],
  });
  const emitted = new Emitted();

  // Killed right after it read the app under the app’s lease (GET applications(appId=…)) (a reconciliation in progress).
  const fault = cloud.faults.add({
    op: 'graph.getApplication',
    kind: 'commitThenHang',
    times: 1,
    when: (req) => req.path.includes(stuck.appId),
    onCommitted: () => run.child.kill('SIGKILL'),
  });
  const run = startCli(['rotate', '--json'], env);
  const killed = await run.done;
  cloud.faults.clear();
  emitted.add('killed run stderr', killed.stderr);
  expect(fault.hits, 'the killed run reached the app').toBe(1);
  expect(killed.signal).toBe('SIGKILL');
  const lockBlob = BlobServiceClient.fromConnectionString(storage)
    .getContainerClient(LOCK_CONTAINER)
    .getBlobClient(`${stuck.appId.toLowerCase()}.lock`);
  expect((await lockBlob.getProperties()).leaseState, 'the dead run’s lease is still there').toBe('leased');

  const next = await cliInProcess(['rotate', '--json'], env, emitted, 'next run');
  const entry = next.report?.apps.find((a) => a.appId === stuck.appId);
  expect(entry, next.stderr).toMatchObject({ action: 'failed', code: 'two-secret-limit' });
  expect(next.code).toBe(1);
  // Said in the run's log too, where an operator sees a refusal repeated run after run.
  expect(next.stderr).toContain('app failed');
  // Nothing changed on the app: people's secrets stay, no new one was made.
  expect(stuck.passwordCredentials).toHaveLength(2);
});
