// A run killed in the middle of its reconciliations leaves the leases of the apps it was working on for up to a
// minute. Within that minute the next run reports such an app "skipped, locked by another run" (contract §7: a held
// lock means skipped, exit 0); once the lease lapses, an app the rotator cannot rotate (a personal-account app whose
// two password slots hold people's secrets) is reported failed again. The soak's 300-app years found such apps
// unreported for days after a kill (seed 2 days 211-213, seed 1 days 280-286): the simulated days after a kill pass
// within the real minute a dead run's lease lasts in Azurite, and the soak's clean-up (expireLocks, which stands for
// that minute passing) missed leases Azurite granted to the dead run after its listing; it now breaks them twice.
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LOCK_CONTAINER } from '../../src/azure/locks.js';
import type { SimCloud } from '../sim/cloud.js';
import { cliInProcess, DAY, Emitted, expireLocks, startCli, startHarnessCloud } from './harness.js';

let cloud: SimCloud;
let env: Record<string, string>;
let storage: string;

beforeAll(async () => {
  ({ cloud, env, storage } = await startHarnessCloud());
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

it('a stuck app whose lease a killed run left is skipped while the lease lasts, then reported failed again', async () => {
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

  const within = await cliInProcess(['rotate', '--json'], env, emitted, 'run within the minute');
  expect(within.report?.apps.find((a) => a.appId === stuck.appId)).toMatchObject({
    action: 'skipped',
    code: 'locked-by-another-run',
  });

  await expireLocks(storage, cloud); // the dead run's minute passes
  expect((await lockBlob.getProperties()).leaseState, 'the clean-up breaks the dead run’s lease').not.toBe(
    'leased',
  );
  const next = await cliInProcess(['rotate', '--json'], env, emitted, 'next run');
  const entry = next.report?.apps.find((a) => a.appId === stuck.appId);
  expect(entry, next.stderr).toMatchObject({ action: 'failed', code: 'two-secret-limit' });
  expect(next.code).toBe(1);
  // Nothing changed on the app: people's secrets stay, no new one was made.
  expect(stuck.passwordCredentials).toHaveLength(2);
});
