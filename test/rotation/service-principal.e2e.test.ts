// Contract §8 when the service principal lookup itself fails (the soak's finding no-service-principal-untouched):
// a page's batched lookup throttled past its retries must not let a due app without a service principal get a
// credential (added, proof refused with AADSTS7000229, removed again). Assertions on the simulator's request log.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';
import type { Report } from '../../src/rotation/report.js';
import { startSimCloud } from '../sim/cloud.js';
import type { SimApplication } from '../sim/tenant.js';

const DAY = 86_400_000;
const cloud = await startSimCloud({ replicationDelayMs: 0, graphThrottling: false });
afterAll(() => cloud.stop());
Object.assign(process.env, cloud.env); // the rotator's own credential reads the environment
const baseEnv: Record<string, string | undefined> = { ...process.env, ...cloud.env };
delete baseEnv.AzureWebJobsStorage;

beforeEach(() => cloud.faults.clear());

async function rotate(args: string[] = []) {
  const { code, report } = await runCli(['rotate', ...args, '--json'], baseEnv);
  return { code, report: report! };
}

const entry = (r: Report, app: SimApplication) => r.apps.find((a) => a.appId === app.appId);
const addPasswords = (app: SimApplication) =>
  cloud.log.count('graph.addPassword', (e) => e.path.includes(app.id));
const signIns = (app: SimApplication) => cloud.log.count('entra.token', (e) => e.subject === app.appId);

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

/** The page's batched lookup throttled for longer than its retries last (Graph $batch sub-requests, 429); with
 *  `alone`, the app's own read too. */
const throttleLookups = (times: number, alone = false) =>
  cloud.faults.add({
    op: alone ? /^graph\.(listServicePrincipals|getServicePrincipal)$/ : 'graph.listServicePrincipals',
    status: 429,
    retryAfterSeconds: 0,
    code: 'TooManyRequests',
    times,
  });

describe('the service principal lookup fails (§8)', () => {
  it('a failed page lookup is asked again for the app alone: nothing is added to an app without one', async () => {
    const stuck = addApp('No SP, lookup throttled', 5, { servicePrincipal: false });
    const healthy = addApp('With SP, lookup throttled', 5);
    // The batched lookup of the page keeps failing; the app's own read under its lock gets through.
    throttleLookups(1000);
    const { report } = await rotate();
    expect(entry(report, stuck)).toMatchObject({ action: 'failed', code: 'no-service-principal' });
    expect(addPasswords(stuck)).toBe(0);
    expect(signIns(stuck)).toBe(0);
    expect(entry(report, healthy)?.action).toBe('rotated');
    cloud.tenant.deleteApplication(stuck.id);
    cloud.tenant.deleteApplication(healthy.id);
  });

  it('a lookup that keeps failing fails the due app before any change, and says why', async () => {
    const stuck = addApp('No SP, lookup down', 5, { servicePrincipal: false });
    const notDue = addApp('No SP, not due, lookup down', 200, { servicePrincipal: false });
    throttleLookups(1000, true);
    const { code, report } = await rotate();
    expect(code).toBe(1);
    expect(entry(report, stuck)).toMatchObject({ action: 'failed', code: 'service-principal-unknown' });
    expect(entry(report, stuck)?.reason).toMatch(/could not check whether the app has a service principal/);
    expect(entry(report, notDue)?.action).toBe('up-to-date');
    expect(addPasswords(stuck)).toBe(0);
    expect(signIns(stuck)).toBe(0);
    cloud.tenant.deleteApplication(stuck.id);
    cloud.tenant.deleteApplication(notDue.id);
  });
});
