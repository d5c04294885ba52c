// The Graph adapter and the secret proof against the simulated cloud (issue 14, contract §8): which apps have a
// service principal, removals decided from state, and which sign-in errors are worth waiting for.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { GraphApi } from '../../src/azure/graph.js';
import { createCredential, proveSecret } from '../../src/azure/identity.js';
import { loadSettings } from '../../src/settings.js';
import type { Clock } from '../../src/util/clock.js';
import { startSimCloud } from '../sim/cloud.js';
import { graphControl } from '../sim/graph.js';

const cloud = await startSimCloud({ graphThrottling: false });
afterAll(() => cloud.stop());
Object.assign(process.env, cloud.env);
const settings = loadSettings(cloud.env, { requireKeyVault: true });
const graph = new GraphApi(createCredential(settings), settings);
const control = graphControl(cloud);

beforeEach(() => {
  cloud.faults.clear();
  cloud.log.clear();
});

/** A clock that moves when slept on: the proof's waiting takes no real time. */
function movingClock(): Clock & { elapsed(): number } {
  const start = Date.now();
  let now = start;
  return {
    now: () => new Date(now),
    sleep: async (ms) => {
      now += ms;
    },
    elapsed: () => now - start,
  };
}

const newApp = (name: string, servicePrincipal = true) =>
  cloud.tenant.addApplication({ displayName: name, ownerIds: [cloud.rotator.id], servicePrincipal });

describe('appIdsWithServicePrincipal', () => {
  it('names the apps that have one, 15 appIds per filter, many filters per $batch', async () => {
    const withSp = Array.from({ length: 20 }, (_, i) => newApp(`with sp ${i}`));
    const without = Array.from({ length: 20 }, (_, i) => newApp(`no sp ${i}`, false));
    const unknown = '00000000-0000-0000-0000-00000000abcd';
    const ids = [...withSp, ...without].map((a) => a.appId.toUpperCase()).concat(unknown);
    const found = await graph.appIdsWithServicePrincipal(ids);
    expect([...found].sort()).toEqual(withSp.map((a) => a.appId.toLowerCase()).sort());
    expect(cloud.log.count('graph.batch')).toBe(1); // 41 appIds: 3 filters in one round-trip
  });

  it('throws when Graph does not answer for some of them, rather than guessing', async () => {
    cloud.faults.fail('graph.listServicePrincipals', 403, undefined, { code: 'Authorization_RequestDenied' });
    await expect(graph.appIdsWithServicePrincipal([newApp('x').appId])).rejects.toThrow(/403/);
  });
});

describe('removePassword decides from the app’s credentials, not the status code', () => {
  it.each([400, 404] as const)(
    'a keyId already gone is done, whatever Graph answers (%s)',
    async (status) => {
      control.removePasswordUnknownKeyId = status;
      const app = newApp(`gone ${status}`);
      const cred = cloud.tenant.issuePassword(app, { displayName: 'made by a person', replicated: true });
      await graph.removePassword(app.id, cred.keyId);
      expect(app.passwordCredentials).toEqual([]);
      await expect(graph.removePassword(app.id, cred.keyId)).resolves.toBeUndefined(); // again: already gone
    },
  );

  it('a removal refused while the credential is still there fails', async () => {
    const app = newApp('refused');
    const cred = cloud.tenant.issuePassword(app, { displayName: 'made by a person', replicated: true });
    cloud.faults.fail('graph.removePassword', 403, undefined, { code: 'Authorization_RequestDenied' });
    await expect(graph.removePassword(app.id, cred.keyId)).rejects.toThrow();
    expect(app.passwordCredentials).toHaveLength(1);
  });
});

describe('proveSecret: only replication is waited for (contract §8)', () => {
  const prove = (appId: string, secret: string, clock: Clock, seconds = 300) =>
    proveSecret(settings, cloud.tenant.tenantId, appId, secret, {
      deadline: new Date(clock.now().getTime() + seconds * 1000),
      clock,
    });
  const signInFault = (appId: string, status: number, code: string, message: string, times?: number) =>
    cloud.faults.fail('entra.token', status, times, {
      code,
      message,
      when: (req) => req.body.toString().includes(appId),
    });

  it('waits out AADSTS7000215 while the secret replicates, then proves it', async () => {
    const app = newApp('replicating');
    const cred = cloud.tenant.issuePassword(app, { displayName: 'new', replicated: true });
    signInFault(app.appId, 401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided.', 3);
    const clock = movingClock();
    const r = await prove(app.appId, cred.secretText, clock);
    expect(r).toMatchObject({ ok: true, attempts: 4 });
    expect(clock.elapsed()).toBeGreaterThan(0);
  });

  it('waits until the deadline for AADSTS700016 (the app not replicated yet), then fails naming it', async () => {
    const app = newApp('never replicates');
    const cred = cloud.tenant.issuePassword(app, { displayName: 'new', replicated: true });
    signInFault(
      app.appId,
      400,
      'unauthorized_client',
      `AADSTS700016: Application with identifier '${app.appId}' was not found.`,
    );
    const clock = movingClock();
    const r = await prove(app.appId, cred.secretText, clock, 60);
    expect(r).toMatchObject({ ok: false, code: 'AADSTS700016' });
    expect(r.attempts).toBeGreaterThan(3);
    expect(clock.elapsed()).toBe(60_000); // exactly the deadline, never past it
    expect(r.reason).toContain('AADSTS700016');
    expect(r.reason).not.toContain(cred.secretText);
  });

  it('stops at once on AADSTS7000229 (no service principal), naming the code', async () => {
    const app = newApp('no service principal', false);
    const cred = cloud.tenant.issuePassword(app, { displayName: 'new', replicated: true });
    signInFault(
      app.appId,
      401,
      'invalid_client',
      `AADSTS7000229: The client application ${app.appId} is missing service principal in the tenant ${cloud.tenant.tenantId}.`,
    );
    const clock = movingClock();
    const r = await prove(app.appId, cred.secretText, clock);
    expect(r).toMatchObject({ ok: false, attempts: 1, code: 'AADSTS7000229' });
    expect(r.reason).toContain('AADSTS7000229');
    expect(clock.elapsed()).toBe(0); // no waiting
  });

  it('counts AADSTS53003 (Conditional Access blocked the token) as proof, with a note', async () => {
    const app = newApp('conditional access');
    const cred = cloud.tenant.issuePassword(app, { displayName: 'new', replicated: true });
    signInFault(
      app.appId,
      400,
      'interaction_required',
      'AADSTS53003: Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.',
    );
    const r = await prove(app.appId, cred.secretText, movingClock());
    expect(r).toMatchObject({ ok: true, attempts: 1, code: 'AADSTS53003' });
    expect(r.note).toMatch(/Conditional Access.*counted as proof/);
  });

  it('tries again after an answer without an AADSTS code (the authority unavailable)', async () => {
    const app = newApp('authority hiccup');
    const cred = cloud.tenant.issuePassword(app, { displayName: 'new', replicated: true });
    signInFault(app.appId, 500, 'server_error', 'The service is unavailable.', 4);
    const r = await prove(app.appId, cred.secretText, movingClock());
    expect(r.ok).toBe(true);
  });

  it('the old form (a timeout in milliseconds) still proves a working secret', async () => {
    const app = newApp('old form');
    const cred = cloud.tenant.issuePassword(app, { displayName: 'new', replicated: true });
    const r = await proveSecret(settings, cloud.tenant.tenantId, app.appId, cred.secretText, 10_000);
    expect(r).toMatchObject({ ok: true, attempts: 1 });
  });

  it("reads the authority's OpenID configuration once, and signs in at the token endpoint for every proof", async () => {
    const apps = [newApp('metadata one'), newApp('metadata two'), newApp('metadata three')];
    const creds = apps.map((app) =>
      cloud.tenant.issuePassword(app, { displayName: 'new', replicated: true }),
    );
    // A wrong secret is still refused: every proof really signs in.
    const wrong = await prove(apps[0]!.appId, 'not-the-secret', movingClock(), 0);
    expect(wrong.ok).toBe(false);
    cloud.log.clear();
    for (const [i, app] of apps.entries()) {
      const r = await prove(app.appId, creds[i]!.secretText, movingClock());
      expect(r).toMatchObject({ ok: true, attempts: 1 });
    }
    expect(cloud.log.count('entra.openidConfiguration')).toBe(0);
    expect(cloud.log.count('entra.token')).toBe(3);
  });
});
