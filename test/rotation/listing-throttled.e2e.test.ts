// The soak's stuck-app-reported-failed finding: a burst of Graph throttling on the app listing (six 429s in a row)
// ended the whole daily run, so no app, not even one that can never be rotated, was reported that day. The listing
// now waits out a longer burst; a listing that keeps failing still ends the run with its error.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';
import { startSimCloud } from '../sim/cloud.js';

const DAY = 86_400_000;
const cloud = await startSimCloud({ replicationDelayMs: 0, graphThrottling: false });
afterAll(() => cloud.stop());
Object.assign(process.env, cloud.env); // the rotator's own credential reads the environment
const baseEnv: Record<string, string | undefined> = { ...process.env, ...cloud.env };
delete baseEnv.AzureWebJobsStorage;

beforeEach(() => cloud.faults.clear());

const rotate = () => runCli(['rotate', '--json'], baseEnv);

const stuck = cloud.tenant.addApplication({
  displayName: 'No SP, listed through throttling',
  ownerIds: [cloud.rotator.id],
  servicePrincipal: false,
  passwords: [
    {
      displayName: 'made by a person',
      startDateTime: new Date(cloud.clock.nowMs() - 100 * DAY),
      endDateTime: new Date(cloud.clock.nowMs() + 5 * DAY),
    },
  ],
});

describe('the app listing throttled (Graph 429 burst)', () => {
  it('eight 429s in a row on the listing are waited out: the run reports every app', async () => {
    cloud.faults.add({
      op: 'graph.listOwnedObjects',
      status: 429,
      retryAfterSeconds: 0,
      code: 'TooManyRequests',
      times: 8,
    });
    const { report } = await rotate();
    expect(report?.apps.find((a) => a.appId === stuck.appId)).toMatchObject({
      action: 'failed',
      code: 'no-service-principal',
    });
    expect(cloud.log.count('graph.listOwnedObjects', (e) => e.status === 429)).toBeGreaterThanOrEqual(8);
  });
});
