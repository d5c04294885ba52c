// Queue and poison messages are inputs like any other (issue 13, finding 3): a message naming a run in progress and
// an app that run did not queue (here, one outside the scope) neither emails that app's owner nor completes the run
// early; the run completes on the rows of the apps it queued, and their owners are emailed then.
import type { Timer } from '@azure/functions';
import { randomUUID } from 'node:crypto';
import { QueueClient } from '@azure/storage-queue';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { decodeAsHost, encodeWorkMessage, WORK_QUEUE } from '../../src/azure/queue.js';
import { RunTable } from '../../src/azure/runs.js';
import { rotatePoison } from '../../src/functions/rotatePoison.js';
import { rotateTimer } from '../../src/functions/rotateTimer.js';
import { rotateWorker } from '../../src/functions/rotateWorker.js';
import { startSimCloud } from '../sim/cloud.js';
import { invocation, takeRun } from '../functions/host.js';

const DAY = 86_400_000;
const cloud = await startSimCloud({ graphThrottling: false });
afterAll(() => cloud.stop());
const storage = inject('azuriteConnectionString');
Object.assign(process.env, cloud.env, {
  AzureWebJobsStorage: storage,
  VERIFY_TIMEOUT_SECONDS: '5',
  LOCK_WAIT_SECONDS: '2',
  ROTATION_INLINE_MAX: '0',
  NOTIFY_ALSO: 'secops@contoso.com',
});
const runs = new RunTable(
  { kind: 'connectionString', connectionString: storage },
  { getToken: async () => null },
);
const queue = new QueueClient(storage, WORK_QUEUE);
const logs: string[] = [];
const ctx = (name: string, meta?: Record<string, unknown>) =>
  invocation(name, (_l, line) => logs.push(line), meta);
const timer: Timer = {
  isPastDue: false,
  schedule: { adjustForDST: true },
  scheduleStatus: { last: '', next: '', lastUpdated: '' },
};

const person = (endsInDays: number) => ({
  displayName: 'portal',
  startDateTime: new Date(Date.now() - 300 * DAY),
  endDateTime: new Date(Date.now() + endsInDays * DAY),
});

describe('a poisoned message naming a run in progress and an app outside the scope', () => {
  it("emails nobody and does not complete the run; the queued app's owner is emailed when its worker finishes", async () => {
    const alice = cloud.tenant.addUser({ displayName: 'Alice', mail: 'alice@contoso.com' });
    const mallory = cloud.tenant.addUser({ displayName: 'Outsider', mail: 'owner@outside.example' });
    const due = cloud.tenant.addApplication({
      displayName: 'Queued App',
      ownerIds: [cloud.rotator.id, alice.id],
      passwords: [person(3)],
    });
    // Not owned by the rotator: outside ROTATION_SCOPE=owned.
    const outsider = cloud.tenant.addApplication({
      displayName: 'Outside App',
      ownerIds: [mallory.id],
      passwords: [person(3)],
    });

    await rotateTimer(timer, ctx('rotateTimer'));
    const summary = logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((o) => o.event === 'rotation-run');
    const runId = summary!.runId as string;
    expect((await runs.getRun(runId))?.queued).toBe(1);

    const poisoned = decodeAsHost(encodeWorkMessage({ runId, appId: outsider.appId, force: false }));
    await rotatePoison(poisoned, ctx('rotatePoison', { dequeueCount: 5 }));
    await rotateWorker(poisoned, ctx('rotateWorker'));
    expect(cloud.mail.to('owner@outside.example')).toEqual([]);
    expect(cloud.mail.to('alice@contoso.com')).toEqual([]);
    expect((await runs.getRun(runId))?.digestSentAt).toBeUndefined();
    expect(await runs.getApp(runId, outsider.appId)).toBeUndefined();
    expect(outsider.passwordCredentials).toHaveLength(1);

    const [real] = await takeRun(queue, runId, 1);
    await rotateWorker(real, ctx('rotateWorker'));
    expect((await runs.getRun(runId))?.digestSentAt).toBeTruthy();
    expect(cloud.mail.to('alice@contoso.com')).toHaveLength(1);
    expect(cloud.mail.to('alice@contoso.com')[0]!.plainText).toContain(due.appId);
    expect(cloud.mail.to('owner@outside.example')).toEqual([]);
  });
});

describe('a message asking for more than its run allowed', () => {
  it("without a run row, force and revokeSuperseded are ignored: a person's secret that is not due stays, nothing is added", async () => {
    const bob = cloud.tenant.addUser({ displayName: 'Bob', mail: 'bob@contoso.com' });
    const app = cloud.tenant.addApplication({
      displayName: 'Not Due App',
      ownerIds: [cloud.rotator.id, bob.id],
      passwords: [person(200)],
    });
    const forged = decodeAsHost(
      encodeWorkMessage({ runId: randomUUID(), appId: app.appId, force: true, revokeSuperseded: true }),
    );
    await rotateWorker(forged, ctx('rotateWorker'));
    expect(app.passwordCredentials).toHaveLength(1);
    expect(app.passwordCredentials[0]!.displayName).toBe('portal');
  });

  it('naming an unforced run, force is ignored: the app is not rotated before it is due', async () => {
    const carol = cloud.tenant.addUser({ displayName: 'Carol', mail: 'carol@contoso.com' });
    cloud.tenant.addApplication({
      displayName: 'Due For The Run',
      ownerIds: [cloud.rotator.id, carol.id],
      passwords: [person(3)],
    });
    const notDue = cloud.tenant.addApplication({
      displayName: 'Not Due, Queued By Hand',
      ownerIds: [cloud.rotator.id, carol.id],
      passwords: [person(200)],
    });
    logs.length = 0;
    await rotateTimer(timer, ctx('rotateTimer'));
    const runId = logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((o) => o.event === 'rotation-run')!.runId as string;
    expect((await runs.getRun(runId))?.force).toBe(false);
    // The run did not queue this app, so the message is refused outright; and were it queued, force stays off.
    const forged = decodeAsHost(
      encodeWorkMessage({ runId, appId: notDue.appId, force: true, revokeSuperseded: true }),
    );
    await rotateWorker(forged, ctx('rotateWorker'));
    expect(notDue.passwordCredentials).toHaveLength(1);
    expect(notDue.passwordCredentials[0]!.displayName).toBe('portal');
  });
});
