// The HTTP rotate and the timer when Graph breaks off the listing part way (a tenant of three Graph pages): the
// apps already under way finish, their owners are emailed, and the invocation fails with a clear error.
import type { Timer } from '@azure/functions';
import { afterAll, describe, expect, it } from 'vitest';
import { rotateHttp } from '../../src/functions/rotateHttp.js';
import { rotateTimer } from '../../src/functions/rotateTimer.js';
import { ROTATOR_PREFIX } from '../../src/rotation/checks.js';
import { startSimCloud } from '../sim/cloud.js';
import { seedLargeTenant } from '../sim/seed.js';
import type { SimApplication } from '../sim/tenant.js';
import { invocation, operatorToken, rotateRequest } from './host.js';

const cloud = await startSimCloud({ graphThrottling: false });
afterAll(() => cloud.stop());
// No AzureWebJobsStorage: nothing is queued, every due app is rotated in the invocation.
Object.assign(process.env, cloud.env, { VERIFY_TIMEOUT_SECONDS: '5' });
const tenant = seedLargeTenant(cloud, { apps: 2200, duePercent: 2, ownerPool: 30 });

const logs: string[] = [];
const ctx = (functionName: string) => invocation(functionName, (_level, line) => logs.push(line));
const rotated = () => tenant.apps.filter((a) => a.passwordCredentials.some(isRotatorMade));
const isRotatorMade = (c: { displayName: string | null }) => (c.displayName ?? '').startsWith(ROTATOR_PREFIX);
const ownersMail = (app: SimApplication) =>
  app.ownerIds.flatMap((id) => cloud.tenant.users.get(id)?.mail ?? []).map((m) => m.toLowerCase());

/** Fails Graph's listing from its nth request on (pages are one request each). */
const breakListingAt = (nth: number) =>
  cloud.faults.fail('graph.listOwnedObjects', 403, undefined, {
    code: 'Authorization_RequestDenied',
    after: nth - 1,
  });

/** The apps rotated since `before`, each of whose owners got an email. */
function expectOwnersTold(before: Set<string>) {
  const now = rotated().filter((a) => !before.has(a.appId));
  expect(now.length).toBeGreaterThan(3);
  const told = new Set(cloud.mail.messages.flatMap((m) => m.to.map((t) => t.toLowerCase())));
  for (const app of now) for (const owner of ownersMail(app)) expect(told, app.displayName).toContain(owner);
  return now;
}

describe('a run that Graph breaks off part way', () => {
  it('POST /api/rotate: emails the owners of what it rotated, then answers 500 with no detail', async () => {
    const before = new Set(rotated().map((a) => a.appId));
    cloud.mail.clear();
    const fault = breakListingAt(2); // the first page is listed, the second refused
    try {
      const res = await rotateHttp(rotateRequest('{}', await operatorToken(cloud)), ctx('rotate'));
      expect(res.status).toBe(500);
      expect(JSON.stringify(res.jsonBody)).not.toMatch(/Authorization_RequestDenied|stack/);
    } finally {
      cloud.faults.remove(fault);
    }
    const now = expectOwnersTold(before);
    expect(now.length).toBeLessThan(tenant.dueAppIds.length); // the rest was never reached
  });

  it('the timer: emails the owners of what it rotated, then fails the invocation saying why', async () => {
    const before = new Set(rotated().map((a) => a.appId));
    cloud.mail.clear();
    // The timer lists the three pages once (one pass); it gets the first two, then Graph refuses.
    const fault = breakListingAt(3);
    try {
      await expect(rotateTimer({ isPastDue: false } as Timer, ctx('rotateTimer'))).rejects.toThrow(
        /rotation run .* failed: .*403/,
      );
    } finally {
      cloud.faults.remove(fault);
    }
    expectOwnersTold(before);
    const secrets = cloud.issuedSecrets();
    for (const l of logs) for (const s of secrets) expect(l).not.toContain(s);
  });
});
