// Graph simulator against the real @microsoft/microsoft-graph-client with real @azure/identity credentials:
// paging, $filter/$select, addressing by appId, addPassword/removePassword rules, owners' limited-information
// shape, ownedObjects, the lifetime policy, $batch, authentication/authorization failures and throttling.
import { ClientSecretCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import {
  BatchRequestContent,
  BatchResponseContent,
  Client,
  PageIterator,
  type GraphError,
  type PageCollection,
} from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { SimClock } from './clock.js';
import { startSimCloud } from './cloud.js';
import { graphControl, REMOVE_UNKNOWN_KEY_DEFAULT } from './graph.js';
import type { SimApplication } from './tenant.js';

const DAY = 86_400_000;
const cloud = await startSimCloud(); // Graph throttling on (the default); budgets are shrunk per test
afterAll(() => cloud.stop());
const graph = graphControl(cloud);
const tenant = cloud.tenant;

process.env.IDENTITY_ENDPOINT = cloud.env.IDENTITY_ENDPOINT;
process.env.IDENTITY_HEADER = cloud.env.IDENTITY_HEADER;
const mi = new ManagedIdentityCredential();

function clientFor(cred: TokenCredential): Client {
  return Client.initWithMiddleware({
    authProvider: new TokenCredentialAuthenticationProvider(cred, {
      scopes: [`${cloud.origins.graph}/.default`],
    }),
    baseUrl: cloud.origins.graph,
    customHosts: new Set(['127.0.0.1']),
  });
}

/** Another caller (an app's service principal with a client secret) holding exactly these Graph roles. */
function caller(roles: string[]) {
  const sp = tenant.addServicePrincipal({
    displayName: `caller ${roles.join('+') || 'none'}`,
    graphRoles: roles,
  });
  const secret = tenant.issueServicePrincipalSecret(sp);
  const cred = new ClientSecretCredential(tenant.tenantId, sp.appId, secret, {
    authorityHost: cloud.origins.entra,
    disableInstanceDiscovery: true,
  });
  return { sp, cred, client: clientFor(cred) };
}

/** The rotator itself: managed identity with Application.ReadWrite.OwnedBy + User.ReadBasic.All. */
const rotator = clientFor(mi);

const graphError = async (p: Promise<unknown>): Promise<GraphError> => {
  const err = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as GraphError | undefined;
  if (!err) throw new Error('expected the call to fail');
  return err;
};

// Seed: 250 bulk apps (every 10th owned by the rotator), two users, named apps for the rules.
const alice = tenant.addUser({
  displayName: 'Alice',
  mail: 'alice@contoso.com',
  userPrincipalName: 'alice@contoso.com',
});
const bob = tenant.addUser({ displayName: 'Bob', mail: null, userPrincipalName: 'bob@contoso.com' });
const bulk: SimApplication[] = [];
for (let i = 0; i < 250; i++) {
  bulk.push(
    tenant.addApplication({
      displayName: `bulk-${String(i).padStart(3, '0')}`,
      tags: ['bulk', ...(i % 50 === 0 ? ['rotate'] : [])],
      ownerIds: i % 10 === 0 ? [cloud.rotator.id] : [alice.id],
    }),
  );
}
const owned = tenant.addApplication({
  displayName: 'Payroll API',
  tags: ['rotation:lifetimeDays=90'],
  ownerIds: [cloud.rotator.id, alice.id, bob.id],
  passwords: [
    {
      displayName: 'by hand',
      startDateTime: new Date(Date.now() - 300 * DAY),
      endDateTime: new Date(Date.now() + 10 * DAY),
    },
  ],
  certificates: [
    {
      displayName: 'cert',
      startDateTime: new Date(Date.now() - DAY),
      endDateTime: new Date(Date.now() + 300 * DAY),
    },
  ],
});
const notOwned = tenant.addApplication({ displayName: 'HR Portal', ownerIds: [alice.id] });

beforeEach(() => {
  cloud.faults.clear();
  cloud.log.clear();
  graph.throttle.reset();
  graph.concurrency.enabled = true;
  graph.concurrency.holdMs = 5;
  graph.concurrency.gate = undefined;
  graph.removePasswordUnknownKeyId = REMOVE_UNKNOWN_KEY_DEFAULT;
  tenant.passwordLifetimeMaxDays = undefined;
});

describe('Graph simulator: reading applications', () => {
  it('pages through 250 apps with $top=100 and absolute nextLinks (PageIterator)', async () => {
    const first = (await rotator
      .api('/applications')
      .filter("tags/any(t:t eq 'bulk')")
      .select(['id', 'appId', 'displayName'])
      .top(100)
      .get()) as PageCollection;
    expect(first['@odata.nextLink']).toMatch(
      new RegExp(`^${cloud.origins.graph}/v1\\.0/applications\\?.*\\$skiptoken=`),
    );
    expect(first['@odata.context']).toBe(
      `${cloud.origins.graph}/v1.0/$metadata#applications(id,appId,displayName)`,
    );
    const seen: string[] = [];
    await new PageIterator(rotator, first, (app: { id: string; displayName: string }) => {
      seen.push(app.displayName);
      return true;
    }).iterate();
    expect(seen).toHaveLength(250);
    expect(new Set(seen).size).toBe(250);
    expect(seen.sort()).toEqual(bulk.map((a) => a.displayName).sort());
    expect(cloud.log.count('graph.listApplications')).toBe(3);
  });

  it('filters on tags, appId eq/in, displayName, with and/or, any lambda variable', async () => {
    const names = async (filter: string) =>
      (
        (await rotator.api('/applications').filter(filter).select('displayName').get()) as {
          value: Array<{ displayName: string }>;
        }
      ).value
        .map((a) => a.displayName)
        .sort();
    expect(await names("tags/any(x:x eq 'rotate')")).toEqual([
      'bulk-000',
      'bulk-050',
      'bulk-100',
      'bulk-150',
      'bulk-200',
    ]);
    expect(await names(`appId eq '${owned.appId}'`)).toEqual(['Payroll API']);
    expect(await names(`appId in ('${owned.appId}', '${notOwned.appId}')`)).toEqual([
      'HR Portal',
      'Payroll API',
    ]);
    expect(
      await names("displayName eq 'hr portal' or (tags/any(t:t eq 'rotate') and displayName eq 'bulk-050')"),
    ).toEqual(['HR Portal', 'bulk-050']);
    for (const bad of [
      "startswith(displayName,'b')",
      "notes eq 'x'",
      "tags/any(t:t eq 'a'",
      `appId in (${Array(16).fill("'x'").join(',')})`,
    ]) {
      const err = await graphError(rotator.api('/applications').filter(bad).get());
      expect([err.statusCode, err.code]).toEqual([400, 'Request_UnsupportedQuery']);
    }
  });

  it('$select returns only the selected properties and refuses unknown ones', async () => {
    const app = (await rotator
      .api(`/applications(appId='${owned.appId}')`)
      .select(['appId', 'passwordCredentials'])
      .get()) as Record<string, unknown>;
    expect(Object.keys(app).sort()).toEqual(['@odata.context', 'appId', 'passwordCredentials']);
    const err = await graphError(rotator.api('/applications').select(['id', 'secretText']).get());
    expect([err.statusCode, err.code, err.message]).toEqual([
      400,
      'Request_BadRequest',
      "Could not find a property named 'secretText' on type 'microsoft.graph.application'.",
    ]);
  });

  it('gets an app by object id and by appId, with default properties, and 404s a missing one', async () => {
    const byId = (await rotator.api(`/applications/${owned.id}`).get()) as Record<string, unknown>;
    const byAppId = (await rotator.api(`/applications(appId='${owned.appId}')`).get()) as Record<
      string,
      unknown
    >;
    expect(byAppId).toEqual(byId);
    expect(byId).toMatchObject({
      id: owned.id,
      appId: owned.appId,
      displayName: 'Payroll API',
      tags: ['rotation:lifetimeDays=90'],
    });
    const [pw] = byId.passwordCredentials as Array<Record<string, unknown>>;
    expect(pw).toMatchObject({ displayName: 'by hand', secretText: null, customKeyIdentifier: null });
    expect(pw!.hint).toHaveLength(3);
    const [cert] = byId.keyCredentials as Array<Record<string, unknown>>;
    expect(cert).toMatchObject({ displayName: 'cert', key: null, type: 'AsymmetricX509Cert' });
    const missing = '00000000-0000-0000-0000-0000000000aa';
    const err = await graphError(rotator.api(`/applications(appId='${missing}')`).get());
    expect([err.statusCode, err.code]).toEqual([404, 'Request_ResourceNotFound']);
    expect(err.message).toContain(
      'does not exist or one of its queried reference-property objects are not present',
    );
  });

  it('counts with ConsistencyLevel: eventual, caps $top at 999', async () => {
    const res = (await rotator
      .api('/applications')
      .header('ConsistencyLevel', 'eventual')
      .count(true)
      .filter("tags/any(t:t eq 'bulk')")
      .top(999)
      .get()) as PageCollection;
    expect(res['@odata.count']).toBe(250);
    expect(res.value).toHaveLength(250);
    expect(res['@odata.nextLink']).toBeUndefined();
    const err = await graphError(rotator.api('/applications').top(1000).get());
    expect(err.statusCode).toBe(400);
  });

  it('lists the apps a service principal owns through the typed ownedObjects cast, paged', async () => {
    const me = (await rotator
      .api(`/servicePrincipals(appId='${cloud.rotator.appId}')`)
      .select(['id', 'appId'])
      .get()) as { id: string };
    expect(me.id).toBe(cloud.rotator.id);
    const first = (await rotator
      .api(`/servicePrincipals/${me.id}/ownedObjects/microsoft.graph.application`)
      .select(['id', 'appId', 'displayName', 'tags', 'passwordCredentials'])
      .top(10)
      .get()) as PageCollection;
    const apps: Array<{ appId: string }> = [];
    await new PageIterator(rotator, first, (a: { appId: string }) => Boolean(apps.push(a))).iterate();
    expect(apps.map((a) => a.appId).sort()).toEqual(
      [...bulk.filter((_, i) => i % 10 === 0), owned].map((a) => a.appId).sort(),
    );
    const untyped = (await rotator
      .api(`/servicePrincipals/${me.id}/ownedObjects`)
      .top(1)
      .get()) as PageCollection;
    expect(untyped.value[0]['@odata.type']).toBe('#microsoft.graph.application');
  });
});

describe('Graph simulator: owners', () => {
  it('shows user owners in full with User.ReadBasic.All, and service principals with their appId', async () => {
    const res = (await rotator
      .api(`/applications/${owned.id}/owners`)
      .select(['id', 'mail', 'userPrincipalName', 'appId'])
      .get()) as {
      value: Array<Record<string, unknown>>;
    };
    const byId = new Map(res.value.map((o) => [o.id, o]));
    expect(byId.get(alice.id)).toEqual({
      '@odata.type': '#microsoft.graph.user',
      id: alice.id,
      mail: 'alice@contoso.com',
      userPrincipalName: 'alice@contoso.com',
    });
    expect(byId.get(bob.id)).toMatchObject({ mail: null, userPrincipalName: 'bob@contoso.com' });
    expect(byId.get(cloud.rotator.id)).toEqual({
      '@odata.type': '#microsoft.graph.servicePrincipal',
      id: cloud.rotator.id,
      appId: cloud.rotator.appId,
    });
  });

  it('expands owners on an application (and charges the $expand resource unit)', async () => {
    const app = (await rotator.api(`/applications/${owned.id}`).select(['id']).expand('owners').get()) as {
      owners: Array<{ id: string }>;
    };
    expect(app.owners.map((o) => o.id).sort()).toEqual([cloud.rotator.id, alice.id, bob.id].sort());
  });

  it('returns the limited-information shape without a user-read permission', async () => {
    const { client } = caller(['Application.ReadWrite.OwnedBy']);
    const res = (await client.api(`/applications(appId='${owned.appId}')/owners`).get()) as {
      value: Array<Record<string, unknown>>;
    };
    const user = res.value.find((o) => o.id === alice.id)!;
    expect(user['@odata.type']).toBe('#microsoft.graph.user');
    expect(user).toMatchObject({ mail: null, userPrincipalName: null, displayName: null });
  });
});

describe('Graph simulator: addPassword and removePassword', () => {
  it('returns secretText only in the addPassword response, never in reads or logs', async () => {
    const end = new Date(Date.now() + 90 * DAY).toISOString();
    const cred = (await rotator
      .api(`/applications(appId='${owned.appId}')/addPassword`)
      .post({ passwordCredential: { displayName: 'entra-secret-rotator 1', endDateTime: end } })) as Record<
      string,
      string
    >;
    expect(cred.secretText).toMatch(/^.{3}8Q~.{34}$/);
    expect(cred.hint).toBe(cred.secretText!.slice(0, 3));
    expect(cred.endDateTime).toMatch(/\.\d{7}Z$/);
    expect(Date.parse(cred.endDateTime!)).toBe(Date.parse(end));
    const raw = JSON.stringify(await rotator.api(`/applications/${owned.id}`).get());
    expect(raw).toContain(cred.keyId);
    expect(raw).not.toContain(cred.secretText);
    expect(JSON.stringify(cloud.log.entries)).not.toContain(cred.secretText);
    expect(cloud.log.entries.find((e) => e.op === 'graph.addPassword')?.subject).toBe(owned.appId);
    await rotator.api(`/applications/${owned.id}/removePassword`).post({ keyId: cred.keyId });
    expect(owned.passwordCredentials.map((p) => p.keyId)).not.toContain(cred.keyId);
  });

  it('refuses writes on an app the caller does not own (OwnedBy), allows them with ReadWrite.All', async () => {
    const err = await graphError(rotator.api(`/applications/${notOwned.id}/addPassword`).post({}));
    expect([err.statusCode, err.code, err.message]).toEqual([
      403,
      'Authorization_RequestDenied',
      'Insufficient privileges to complete the operation.',
    ]);
    expect(notOwned.passwordCredentials).toHaveLength(0);
    const { client } = caller(['Application.ReadWrite.All']);
    const cred = (await client.api(`/applications/${notOwned.id}/addPassword`).post({})) as {
      keyId: string;
      endDateTime: string;
    };
    // Default lifetime: two years.
    expect(Date.parse(cred.endDateTime) - Date.now()).toBeGreaterThan(729 * DAY);
    await client.api(`/applications/${notOwned.id}/removePassword`).post({ keyId: cred.keyId });
  });

  it('removePassword: 204, then unknown keyId (400 or 404 as configured), then missing keyId', async () => {
    const cred = (await rotator.api(`/applications/${owned.id}/addPassword`).post({})) as { keyId: string };
    const res = await rotator
      .api(`/applications/${owned.id}/removePassword`)
      .responseType('raw' as never)
      .post({ keyId: cred.keyId });
    expect((res as Response).status).toBe(204);
    graph.removePasswordUnknownKeyId = 400;
    const again = await graphError(
      rotator.api(`/applications/${owned.id}/removePassword`).post({ keyId: cred.keyId }),
    );
    expect([again.statusCode, again.code]).toEqual([400, 'Request_BadRequest']);
    expect(again.message).toBe(`No password credential found with keyId ${cred.keyId}.`);
    graph.removePasswordUnknownKeyId = 404;
    const as404 = await graphError(
      rotator.api(`/applications/${owned.id}/removePassword`).post({ keyId: cred.keyId }),
    );
    expect([as404.statusCode, as404.code]).toEqual([404, 'Request_ResourceNotFound']);
    const missing = await graphError(rotator.api(`/applications/${owned.id}/removePassword`).post({}));
    expect([missing.statusCode, missing.code]).toEqual([400, 'Request_BadRequest']);
  });

  it('holds at most 2 passwords on apps that accept personal accounts', async () => {
    const personal = tenant.addApplication({
      displayName: 'Consumer app',
      signInAudience: 'AzureADandPersonalMicrosoftAccount',
      ownerIds: [cloud.rotator.id],
      passwords: [
        { startDateTime: new Date(), endDateTime: new Date(Date.now() + 30 * DAY) },
        { startDateTime: new Date(), endDateTime: new Date(Date.now() + 60 * DAY) },
      ],
    });
    const err = await graphError(rotator.api(`/applications/${personal.id}/addPassword`).post({}));
    expect([err.statusCode, err.code, err.message]).toEqual([
      400,
      'TooManyAppPasswords',
      'Not allowed to add 3 passwords. You can only add a maximum of 2 passwords.',
    ]);
    expect(personal.passwordCredentials).toHaveLength(2);
  });

  it('enforces the tenant password-lifetime policy and exposes it to Policy.Read.All', async () => {
    tenant.passwordLifetimeMaxDays = 90;
    const post = (days: number) =>
      rotator
        .api(`/applications/${owned.id}/addPassword`)
        .post({ passwordCredential: { endDateTime: new Date(Date.now() + days * DAY).toISOString() } });
    const err = await graphError(post(180));
    expect([err.statusCode, err.code]).toEqual([400, 'CredentialInvalidLifetimeAsPerAppPolicy']);
    expect(err.message).toMatch(
      /^Credential lifetime exceeds the max value allowed as per assigned policy '[0-9a-f-]{36}'\.$/,
    );
    const cred = (await post(89)) as { keyId: string };
    await rotator.api(`/applications/${owned.id}/removePassword`).post({ keyId: cred.keyId });

    const denied = await graphError(rotator.api('/policies/defaultAppManagementPolicy').get());
    expect([denied.statusCode, denied.code]).toEqual([403, 'Authorization_RequestDenied']);
    const { client } = caller(['Policy.Read.All']);
    const policy = (await client.api('/policies/defaultAppManagementPolicy').get()) as {
      isEnabled: boolean;
      applicationRestrictions: { passwordCredentials: Array<Record<string, unknown>> };
    };
    expect(policy.isEnabled).toBe(true);
    expect(policy.applicationRestrictions.passwordCredentials).toEqual([
      expect.objectContaining({ restrictionType: 'passwordLifetime', maxLifetime: 'P90D', state: 'enabled' }),
    ]);
  });

  it('refuses an end before the start', async () => {
    const err = await graphError(
      rotator.api(`/applications/${owned.id}/addPassword`).post({
        passwordCredential: {
          startDateTime: new Date().toISOString(),
          endDateTime: new Date(Date.now() - DAY).toISOString(),
        },
      }),
    );
    expect(err.statusCode).toBe(400);
  });

  it('answers an overlapping write on the same app with 400 "concurrent requests"', async () => {
    // The first write holds the app until released, so the second one overlaps it whatever the machine's load.
    let release!: () => void;
    graph.concurrency.gate = new Promise<void>((r) => (release = r));
    const first = rotator
      .api(`/applications/${owned.id}/addPassword`)
      .post({ passwordCredential: { displayName: 'a' } }) as Promise<{ keyId: string }>;
    while (!graph.concurrency.inFlight.has(owned.id)) await new Promise((r) => setTimeout(r, 5));
    const second = rotator
      .api(`/applications/${owned.id}/addPassword`)
      .post({ passwordCredential: { displayName: 'b' } }) as Promise<{ keyId: string }>;
    const secondSettled = await Promise.allSettled([second]);
    release();
    graph.concurrency.gate = undefined;
    const results = [...(await Promise.allSettled([first])), ...secondSettled];
    const ok = results.filter((r) => r.status === 'fulfilled') as Array<
      PromiseFulfilledResult<{ keyId: string }>
    >;
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect([ok.length, failed.length]).toEqual([1, 1]);
    const err = failed[0]!.reason as GraphError;
    expect([err.statusCode, err.code]).toEqual([400, 'Request_BadRequest']);
    expect(err.message).toContain('concurrent requests');
    expect(err.message).toContain('Please wait briefly and retry');
    await rotator.api(`/applications/${owned.id}/removePassword`).post({ keyId: ok[0]!.value.keyId });
    // Switched off, the same overlap succeeds.
    graph.concurrency.enabled = false;
    const both = await Promise.all([
      rotator.api(`/applications/${owned.id}/addPassword`).post({}),
      rotator.api(`/applications/${owned.id}/addPassword`).post({}),
    ]);
    for (const c of both as Array<{ keyId: string }>) {
      await rotator.api(`/applications/${owned.id}/removePassword`).post({ keyId: c.keyId });
    }
  });
});

describe('Graph simulator: service principals (is each app able to sign in here?)', () => {
  // Registered without a service principal (az ad app create, plain Graph, Bicep): cannot sign in here.
  const bare = tenant.addApplication({
    displayName: 'no service principal',
    ownerIds: [alice.id],
    servicePrincipal: false,
  });
  const withSp = bulk.slice(0, 14);
  const inFilter = (appIds: string[]) => `appId in (${appIds.map((a) => `'${a}'`).join(',')})`;

  it('creates a service principal with each app unless servicePrincipal: false', () => {
    expect(tenant.servicePrincipalByAppId(owned.appId)).toMatchObject({
      appId: owned.appId,
      displayName: 'Payroll API',
      servicePrincipalType: 'Application',
    });
    expect(tenant.servicePrincipalByAppId(bare.appId)).toBeUndefined();
  });

  it('lists them with $filter=appId in (...) up to 15 values; the app without one is simply absent', async () => {
    const appIds = [...withSp.map((a) => a.appId), bare.appId];
    const res = (await rotator
      .api('/servicePrincipals')
      .filter(inFilter(appIds))
      .select(['id', 'appId'])
      .top(999)
      .get()) as PageCollection;
    expect(res['@odata.context']).toBe(`${cloud.origins.graph}/v1.0/$metadata#servicePrincipals(id,appId)`);
    expect(res.value.map((sp: { appId: string }) => sp.appId).sort()).toEqual(
      withSp.map((a) => a.appId).sort(),
    );
    expect(Object.keys(res.value[0] as object).sort()).toEqual(['appId', 'id']);
    const eq = (await rotator
      .api('/servicePrincipals')
      .filter(`appId eq '${owned.appId}'`)
      .get()) as PageCollection;
    expect(eq.value).toHaveLength(1);
    expect(eq.value[0]).toMatchObject({ appId: owned.appId, servicePrincipalType: 'Application' });
  });

  it('refuses 16 values in an `in` with 400 Request_UnsupportedQuery, as real Graph does', async () => {
    const sixteen = bulk.slice(0, 16).map((a) => a.appId);
    const err = await graphError(rotator.api('/servicePrincipals').filter(inFilter(sixteen)).get());
    expect([err.statusCode, err.code]).toEqual([400, 'Request_UnsupportedQuery']);
    expect(err.message).toBe(
      "Too many child clauses specified in search filter expression containing 'OR' operators: 16. Max allowed: 15.",
    );
  });

  it('lifts the 15-value cap for an advanced query (ConsistencyLevel: eventual, $count=true) up to a 2,048-character URL', async () => {
    const sixteen = bulk.slice(0, 16).map((a) => a.appId);
    const res = (await rotator
      .api('/servicePrincipals')
      .header('ConsistencyLevel', 'eventual')
      .count(true)
      .filter(inFilter(sixteen))
      .select(['appId'])
      .get()) as PageCollection;
    expect(res['@odata.count']).toBe(16);
    const sixty = bulk.slice(0, 60).map((a) => a.appId);
    const err = await graphError(
      rotator
        .api('/servicePrincipals')
        .header('ConsistencyLevel', 'eventual')
        .count(true)
        .filter(inFilter(sixty))
        .get(),
    );
    expect([err.statusCode, err.code]).toEqual([400, 'Request_UnsupportedQuery']);
  });

  it("gets one by servicePrincipals(appId='...'), and 404s Request_ResourceNotFound when the app has none", async () => {
    const sp = (await rotator.api(`/servicePrincipals(appId='${owned.appId}')`).get()) as Record<
      string,
      unknown
    >;
    expect(sp).toMatchObject({ appId: owned.appId, id: tenant.servicePrincipalByAppId(owned.appId)!.id });
    const err = await graphError(rotator.api(`/servicePrincipals(appId='${bare.appId}')`).get());
    expect([err.statusCode, err.code]).toEqual([404, 'Request_ResourceNotFound']);
  });

  it('answers both forms inside $batch', async () => {
    const res = (await rotator.api('/$batch').post({
      requests: [
        {
          id: '1',
          method: 'GET',
          url: `/servicePrincipals?$filter=${encodeURIComponent(inFilter([owned.appId, bare.appId]))}&$select=appId`,
        },
        { id: '2', method: 'GET', url: `/servicePrincipals(appId='${owned.appId}')?$select=id,appId` },
        { id: '3', method: 'GET', url: `/servicePrincipals(appId='${bare.appId}')?$select=id,appId` },
      ],
    })) as { responses: Array<{ id: string; status: number; body: Record<string, unknown> }> };
    const byId = new Map(res.responses.map((r) => [r.id, r]));
    expect(byId.get('1')).toMatchObject({ status: 200, body: { value: [{ appId: owned.appId }] } });
    expect(byId.get('2')).toMatchObject({ status: 200, body: { appId: owned.appId } });
    expect(byId.get('3')).toMatchObject({
      status: 404,
      body: { error: { code: 'Request_ResourceNotFound' } },
    });
  });

  it('lets Application.Read.All and OwnedBy read them, refuses a caller without either, but lets an SP read itself', async () => {
    const reader = caller(['Application.Read.All']);
    const listed = (await reader.client
      .api('/servicePrincipals')
      .filter(`appId eq '${owned.appId}'`)
      .get()) as PageCollection;
    expect(listed.value).toHaveLength(1);
    const none = caller(['User.ReadBasic.All']);
    const err = await graphError(
      none.client.api('/servicePrincipals').filter(`appId eq '${owned.appId}'`).get(),
    );
    expect([err.statusCode, err.code]).toEqual([403, 'Authorization_RequestDenied']);
    const denied = await graphError(none.client.api(`/servicePrincipals(appId='${owned.appId}')`).get());
    expect(denied.statusCode).toBe(403);
    // "A service principal can retrieve its own application and service principal details without being
    // granted any application permissions."
    const self = (await none.client.api(`/servicePrincipals(appId='${none.sp.appId}')`).get()) as {
      id: string;
    };
    expect(self.id).toBe(none.sp.id);
  });
});

describe('Graph simulator: $batch', () => {
  it('answers a batch of 20 through BatchRequestContent / BatchResponseContent', async () => {
    const steps = bulk.slice(0, 20).map((app, i) => ({
      id: String(i + 1),
      request: new Request(
        `${cloud.origins.graph}/v1.0/applications(appId='${app.appId}')?$select=displayName`,
        { method: 'GET' },
      ),
    }));
    const content = await new BatchRequestContent(steps).getContent();
    const res = new BatchResponseContent(await rotator.api('/$batch').post(content));
    for (let i = 0; i < 20; i++) {
      const r = res.getResponseById(String(i + 1));
      expect(r.status).toBe(200);
      expect(((await r.json()) as { displayName: string }).displayName).toBe(bulk[i]!.displayName);
    }
    expect(cloud.log.count('graph.getApplication')).toBe(20);
    expect(cloud.log.count('graph.batch')).toBe(1);
  });

  it('refuses 21 requests and duplicate ids with 400', async () => {
    const get = (id: string) => ({ id, method: 'GET', url: `/applications/${owned.id}` });
    const tooMany = await graphError(
      rotator.api('/$batch').post({ requests: Array.from({ length: 21 }, (_, i) => get(String(i))) }),
    );
    expect(tooMany.statusCode).toBe(400);
    const dup = await graphError(rotator.api('/$batch').post({ requests: [get('a'), get('A')] }));
    expect(dup.statusCode).toBe(400);
    expect(cloud.log.count('graph.getApplication')).toBe(0);
  });

  it('answers 424 for a request whose dependency failed, and runs writes with the batch token', async () => {
    const res = (await rotator.api('/$batch').post({
      requests: [
        {
          id: '1',
          method: 'POST',
          url: `/applications/${notOwned.id}/addPassword`,
          headers: { 'Content-Type': 'application/json' },
          body: {},
        },
        { id: '2', method: 'GET', url: `/applications/${notOwned.id}?$select=id`, dependsOn: ['1'] },
        {
          id: '3',
          method: 'POST',
          url: `/applications/${owned.id}/addPassword`,
          headers: { 'Content-Type': 'application/json' },
          body: {},
        },
      ],
    })) as {
      responses: Array<{ id: string; status: number; body: { keyId?: string; error?: { code: string } } }>;
    };
    const byId = new Map(res.responses.map((r) => [r.id, r]));
    expect(byId.get('1')).toMatchObject({
      status: 403,
      body: { error: { code: 'Authorization_RequestDenied' } },
    });
    expect(byId.get('2')!.status).toBe(424);
    expect(byId.get('3')!.status).toBe(200);
    await rotator.api(`/applications/${owned.id}/removePassword`).post({ keyId: byId.get('3')!.body.keyId });
  });

  it('throttles sub-requests individually: a sub-response can be 429 with Retry-After', async () => {
    cloud.faults.fail('graph.getApplication', 429, 1, { retryAfterSeconds: 1 });
    const res = (await rotator.api('/$batch').post({
      requests: [
        { id: '1', method: 'GET', url: `/applications/${owned.id}` },
        { id: '2', method: 'GET', url: `/applications/${owned.id}`, dependsOn: ['1'] },
      ],
    })) as { responses: Array<{ id: string; status: number; headers: Record<string, string> }> };
    const first = res.responses.find((r) => r.id === '1')!;
    expect(first.status).toBe(429);
    expect(first.headers['Retry-After']).toBe('1');
    expect(res.responses.find((r) => r.id === '2')!.status).toBe(424);
  });
});

describe('Graph simulator: authentication and authorization', () => {
  it('answers a token for another audience with 401 InvalidAuthenticationToken', async () => {
    const vaultToken = await mi.getToken('https://vault.azure.net/.default');
    const client = Client.initWithMiddleware({
      authProvider: { getAccessToken: async () => vaultToken.token },
      baseUrl: cloud.origins.graph,
      customHosts: new Set(['127.0.0.1']),
    });
    const err = await graphError(client.api('/applications').get());
    expect([err.statusCode, err.code]).toEqual([401, 'InvalidAuthenticationToken']);
  });

  it('answers a caller without an application role with 403', async () => {
    const { client } = caller(['User.ReadBasic.All']);
    const err = await graphError(client.api('/applications').get());
    expect([err.statusCode, err.code]).toEqual([403, 'Authorization_RequestDenied']);
  });

  it('echoes client-request-id and sends request-id in headers and error bodies', async () => {
    const { client } = caller([]);
    const err = await graphError(client.api('/applications').header('client-request-id', 'abc-123').get());
    const body = JSON.parse(err.body as string) as { innerError: Record<string, string> };
    expect(body.innerError['client-request-id']).toBe('abc-123');
    expect(err.headers?.get('client-request-id')).toBe('abc-123');
    expect(err.headers?.get('request-id')).toBe(body.innerError['request-id']);
  });
});

describe('Graph simulator: throttling', () => {
  it('lets the SDK RetryHandler honour a 429 Retry-After', async () => {
    cloud.faults.fail('graph.getApplication', 429, 1, { retryAfterSeconds: 1 });
    const app = (await rotator.api(`/applications/${owned.id}`).select('id').get()) as { id: string };
    expect(app.id).toBe(owned.id);
    // The 429 and then the retry that succeeded (how long the SDK waited is not asserted: no timed assertions).
    expect(cloud.log.entries.filter((e) => e.op === 'graph.getApplication').map((e) => e.status)).toEqual([
      429, 200,
    ]);
  });

  it('throttles on the resource-unit budget with the documented headers, and the SDK recovers', async () => {
    const { cred, client } = caller(['Application.Read.All']);
    graph.throttle.setBudgets({ resourceUnits: { L: 4 }, ruWindowMs: 1_000 });
    const token = (await cred.getToken(`${cloud.origins.graph}/.default`))!.token;
    const statuses: Response[] = [];
    for (let i = 0; i < 3; i++) {
      // list applications costs 2 resource units
      statuses.push(
        await fetch(`${cloud.origins.graph}/v1.0/applications?$top=50`, {
          headers: { authorization: `Bearer ${token}` },
        }),
      );
    }
    expect(statuses.map((r) => r.status)).toEqual([200, 200, 429]);
    expect(statuses[0]!.headers.get('x-ms-resource-unit')).toBe('2');
    const throttled = statuses[2]!;
    expect(throttled.headers.get('retry-after')).toBe('1');
    expect(throttled.headers.get('x-ms-throttle-information')).toBe('ResourceUnitLimitExceeded');
    expect(throttled.headers.get('x-ms-throttle-scope')).toMatch(/^Tenant_Application\/ReadWrite\//);
    expect(graph.throttle.counters.throttled).toBeGreaterThanOrEqual(1);
    // The SDK waits Retry-After and gets through once the window slides.
    const res = (await client.api('/applications').top(50).get()) as PageCollection;
    expect(res.value).toHaveLength(50);
  });

  it('limits writes on personal-account apps to the per-app write budget', async () => {
    graph.throttle.setBudgets({ personalAppWrites: 1, personalAppWritesWindowMs: 60_000 });
    const personal = tenant.addApplication({
      displayName: 'Consumer app 2',
      signInAudience: 'PersonalMicrosoftAccount',
      ownerIds: [cloud.rotator.id],
    });
    const token = (await mi.getToken(`${cloud.origins.graph}/.default`))!.token;
    const post = () =>
      fetch(`${cloud.origins.graph}/v1.0/applications/${personal.id}/addPassword`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{}',
      });
    expect((await post()).status).toBe(200);
    const second = await post();
    expect(second.status).toBe(429);
    expect(second.headers.get('x-ms-throttle-information')).toBe('WriteLimitExceeded');
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThan(50);
    expect(personal.passwordCredentials).toHaveLength(1);
  });
});

// A cloud of its own with a frozen clock, so moving it by days leaves the other tests' cloud alone.
const clock = new SimClock({ frozen: true, start: Date.parse('2027-03-01T08:00:00Z') });
const timed = await startSimCloud({ clock });
afterAll(() => timed.stop());

describe('Graph simulator: time comes from the cloud clock', () => {
  const rotatorOwned = timed.tenant.addApplication({
    displayName: 'timed app',
    ownerIds: [timed.rotator.id],
  });
  /** A caller holding `roles` (its own app, so throttling windows are its own) making raw calls. */
  function callerOf(roles: string[]) {
    const sp = timed.tenant.addServicePrincipal({ displayName: 'timed caller', graphRoles: roles });
    const secret = timed.tenant.issueServicePrincipalSecret(sp);
    const cred = new ClientSecretCredential(timed.tenant.tenantId, sp.appId, secret, {
      authorityHost: timed.origins.entra,
      disableInstanceDiscovery: true,
    });
    return async (path: string, init: RequestInit = {}) => {
      const token = (await cred.getToken(`${timed.origins.graph}/.default`))!.token;
      return fetch(`${timed.origins.graph}/v1.0${path}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      });
    };
  }
  const call = (roles: string[], path: string, init?: RequestInit) => callerOf(roles)(path, init);
  const writer = ['Application.ReadWrite.All'];

  it('dates a new password from the clock (default start now, end two years on), and errors too', async () => {
    clock.advance(400 * DAY);
    const res = await call(writer, `/applications/${rotatorOwned.id}/addPassword`, {
      method: 'POST',
      body: '{}',
    });
    const cred = (await res.json()) as { startDateTime: string; endDateTime: string };
    expect(Date.parse(cred.startDateTime)).toBe(clock.nowMs());
    expect(Date.parse(cred.endDateTime) - clock.nowMs()).toBeGreaterThan(729 * DAY);
    const missing = await call(writer, `/applications(appId='${randomUUID()}')`);
    const body = (await missing.json()) as { error: { innerError: { date: string } } };
    expect(body.error.innerError.date).toBe(clock.now().toISOString().slice(0, 19));
  });

  it('sees a credential expire when the clock passes its end (the tenant is the shared truth)', () => {
    const app = timed.tenant.addApplication({
      displayName: 'expiring',
      passwords: [{ startDateTime: clock.now(), endDateTime: new Date(clock.nowMs() + 10 * DAY) }],
    });
    const secret = app.passwordCredentials[0]!.secretText;
    expect(timed.tenant.authenticate(app.appId, secret)).toMatchObject({ ok: true });
    clock.advance(11 * DAY);
    expect(timed.tenant.authenticate(app.appId, secret)).toMatchObject({ code: 'AADSTS7000222' });
  });

  it('checks the lifetime policy against a start taken from the clock', async () => {
    timed.tenant.passwordLifetimeMaxDays = 90;
    try {
      const end = new Date(clock.nowMs() + 80 * DAY).toISOString();
      const ok = await call(writer, `/applications/${rotatorOwned.id}/addPassword`, {
        method: 'POST',
        body: JSON.stringify({ passwordCredential: { endDateTime: end } }),
      });
      expect(ok.status).toBe(200);
      const tooLong = new Date(clock.nowMs() + 91 * DAY).toISOString();
      const refused = await call(writer, `/applications/${rotatorOwned.id}/addPassword`, {
        method: 'POST',
        body: JSON.stringify({ passwordCredential: { endDateTime: tooLong } }),
      });
      expect(refused.status).toBe(400);
    } finally {
      timed.tenant.passwordLifetimeMaxDays = undefined;
    }
  });

  it('refills throttling budgets when the clock moves past the window, not before', async () => {
    const throttle = graphControl(timed).throttle;
    throttle.setBudgets({ resourceUnits: { L: 2 }, ruWindowMs: 60_000 });
    const list = callerOf(['Application.Read.All']);
    try {
      expect((await list('/applications?$top=50')).status).toBe(200);
      const throttled = await list('/applications?$top=50');
      expect(throttled.status).toBe(429);
      expect(throttled.headers.get('retry-after')).toBe('60');
      clock.advance(59_000);
      expect((await list('/applications?$top=50')).status).toBe(429);
      clock.advance(1_000);
      expect((await list('/applications?$top=50')).status).toBe(200);
    } finally {
      throttle.reset();
    }
  });
});
