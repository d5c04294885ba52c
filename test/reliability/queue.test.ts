// The Functions app's queue fan-out under faults: a work message delivered several times at once, and the queue
// unreachable when a run hands its apps to workers. Then a clean run, then I1-I5 over the tenant.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotateHttp } from '../../src/functions/rotateHttp.js';
import { rotateWorker } from '../../src/functions/rotateWorker.js';
import type { Report } from '../../src/rotation/report.js';
import type { SimCloud } from '../sim/cloud.js';
import { freePort } from '../sim/http.js';
import {
  checkNothingBroken,
  checkNothingChanged,
  checkNothingDoubled,
  checkNothingLeaked,
  checkNothingLost,
  counters,
  Emitted,
  expireLocks,
  lastSeq,
  startHarnessCloud,
  recordResults,
  resetSmallTenant,
  snapshotKeyIds,
  snapshotPersonCredentials,
} from './harness.js';
import { invocation, operatorToken, rotateRequest } from '../functions/host.js';

let cloud: SimCloud;
let storage: string;
const rows: unknown[] = [];
const emitted = new Emitted();

beforeAll(async () => {
  ({ cloud, storage } = await startHarnessCloud({}, { HTTP_TIME_BUDGET_SECONDS: '200' }));
});
afterAll(async () => {
  recordResults('queue.test.ts', rows);
  await cloud?.stop();
});

const context = (functionName: string) =>
  invocation(functionName, (_level, line) => emitted.add(`${functionName} log`, line));

async function postRotate(body = '{}') {
  const res = await rotateHttp(rotateRequest(body, await operatorToken(cloud)), context('rotate'));
  emitted.add('http response', res.jsonBody);
  return res;
}

describe('queue fan-out', () => {
  it('one work message delivered three times at once: the app is rotated exactly once', async () => {
    counters.faultCases++;
    await expireLocks(storage, cloud);
    const { due } = resetSmallTenant(cloud);
    const mailFrom = cloud.mail.messages.length;
    const persons = snapshotPersonCredentials(cloud);
    const before = snapshotKeyIds(cloud);
    const started = Date.now();
    const message = { runId: randomUUID(), appId: due.appId, force: false };
    cloud.tenant.replicationDelayMs = 300; // the deliveries overlap inside the rotation
    const outcomes = await Promise.allSettled(
      [1, 2, 3].map(() => rotateWorker(message, context('rotateWorker'))),
    );
    cloud.tenant.replicationDelayMs = 0;
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    counters.concurrentRuns += 3;
    expect(cloud.log.count('graph.addPassword', (e) => e.at >= started && e.subject === due.appId)).toBe(1);
    checkNothingDoubled(cloud, before);
    checkNothingLost(cloud);
    emitted.addMail(cloud, mailFrom);
    checkNothingLeaked(cloud, emitted);

    // The rest of the tenant through a clean HTTP run.
    const between = snapshotKeyIds(cloud);
    const clean = await postRotate();
    expect(clean.status).toBe(200);
    checkNothingDoubled(cloud, between);
    checkNothingLost(cloud);
    checkNothingBroken(cloud, persons, { fresh: true });
    rows.push({
      step: 'queue',
      kind: 'message delivered 3× at once',
      clean: (clean.jsonBody as Report).summary,
    });
  });

  it('queue unreachable when the run hands its apps to workers: 500, nothing changed; a later run rotates', async () => {
    counters.faultCases++;
    await expireLocks(storage, cloud);
    resetSmallTenant(cloud);
    const mailFrom = cloud.mail.messages.length;
    const persons = snapshotPersonCredentials(cloud);
    const before = snapshotKeyIds(cloud);
    const seq = lastSeq(cloud);
    const port = await freePort(); // nothing listens there
    const saved = { storage: process.env.AzureWebJobsStorage, budget: process.env.HTTP_TIME_BUDGET_SECONDS };
    process.env.AzureWebJobsStorage = storage.replace(
      /QueueEndpoint=[^;]+/,
      `QueueEndpoint=http://127.0.0.1:${port}/devstoreaccount1`,
    );
    process.env.HTTP_TIME_BUDGET_SECONDS = '0'; // every app that needs work goes to the queue
    let faulted;
    try {
      faulted = await postRotate();
    } finally {
      process.env.AzureWebJobsStorage = saved.storage;
      process.env.HTTP_TIME_BUDGET_SECONDS = saved.budget;
    }
    expect(faulted.status).toBe(500);
    checkNothingChanged(cloud, seq);
    checkNothingDoubled(cloud, before);

    const clean = await postRotate();
    expect(clean.status).toBe(200);
    checkNothingDoubled(cloud, before);
    checkNothingLost(cloud);
    checkNothingBroken(cloud, persons, { fresh: true });
    emitted.addMail(cloud, mailFrom);
    expect(await emitted.addStorage(cloud, storage)).toBeGreaterThan(10); // run rows, Key Vault tags, lock blobs
    checkNothingLeaked(cloud, emitted);
    rows.push({
      step: 'queue',
      kind: 'unreachable at fan-out',
      faulted: faulted.status,
      clean: (clean.jsonBody as Report).summary,
    });
  });
});
