// Contract of the simulated Entra ID, driven through the real @azure/identity (MSAL) credentials.
// One cloud per file: MSAL binds the managed-identity endpoint process-wide on first use.
import { ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startSimCloud } from './cloud.js';

for (const k of [
  'AZURE_CLIENT_ID',
  'AZURE_CLIENT_SECRET',
  'AZURE_TENANT_ID',
  'AZURE_FEDERATED_TOKEN_FILE',
  'IDENTITY_SERVER_THUMBPRINT',
  'MSI_ENDPOINT',
  'MSI_SECRET',
  'AZURE_TOKEN_CREDENTIALS',
]) {
  delete process.env[k];
}
const cloud = await startSimCloud({ replicationDelayMs: 0 });
process.env.IDENTITY_ENDPOINT = cloud.env.IDENTITY_ENDPOINT;
process.env.IDENTITY_HEADER = cloud.env.IDENTITY_HEADER;
afterAll(() => cloud.stop());

const tid = cloud.tenant.tenantId;
const DAY = 86_400_000;
const graphScope = `${cloud.origins.graph}/.default`;
const credential = (clientId: string, secret: string) =>
  new ClientSecretCredential(tid, clientId, secret, {
    authorityHost: cloud.origins.entra,
    disableInstanceDiscovery: true,
  });
const freshResource = () => `https://fresh-${randomUUID()}.example`;

function appWithPassword(end = new Date(Date.now() + 30 * DAY)) {
  const app = cloud.tenant.addApplication({
    displayName: `app-${randomUUID().slice(0, 8)}`,
    passwords: [{ startDateTime: new Date(Date.now() - DAY), endDateTime: end }],
  });
  return { app, secret: app.passwordCredentials[0]!.secretText };
}

async function postToken(form: Record<string, string>) {
  const res = await fetch(`${cloud.origins.entra}/${tid}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as Record<string, unknown> };
}

describe('Entra authority: metadata', () => {
  it('serves OpenID metadata whose issuer shares the authority origin', async () => {
    const res = await fetch(`${cloud.origins.entra}/${tid}/v2.0/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const meta = (await res.json()) as Record<string, string>;
    expect(meta.token_endpoint).toBe(`${cloud.origins.entra}/${tid}/oauth2/v2.0/token`);
    expect(meta.issuer).toBe(`${cloud.origins.entra}/${tid}/v2.0`);
    expect(meta.jwks_uri).toBe(`${cloud.origins.entra}/${tid}/discovery/v2.0/keys`);
    expect(meta.authorization_endpoint).toMatch(/\/oauth2\/v2\.0\/authorize$/);
  });

  it('answers an unknown tenant with AADSTS90002 in the Entra error shape', async () => {
    const other = randomUUID();
    const res = await fetch(`${cloud.origins.entra}/${other}/v2.0/.well-known/openid-configuration`);
    expect(res.status).toBe(400);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.error).toBe('invalid_request');
    expect(body.error_description).toMatch(new RegExp(`^AADSTS90002: Tenant '${other}' not found`));
    expect(body.error_codes).toEqual([90002]);
    expect(body).toHaveProperty('timestamp');
    expect(body).toHaveProperty('trace_id');
    expect(body).toHaveProperty('correlation_id');
  });

  it('publishes the signing keys, and issued tokens verify against them', async () => {
    const jwks = (await (
      await fetch(`${cloud.origins.entra}/${tid}/discovery/v2.0/keys`)
    ).json()) as JSONWebKeySet;
    expect(jwks.keys[0]?.kid).toBe(cloud.issuer.kid);
    const { app, secret } = appWithPassword();
    const token = await credential(app.appId, secret).getToken(graphScope);
    const { payload } = await jwtVerify(token!.token, createLocalJWKSet(jwks));
    expect(payload.iss).toBe(`${cloud.origins.entra}/${tid}/v2.0`);
  });
});

describe('Entra authority: client credentials through ClientSecretCredential', () => {
  it("issues a token for an app's own secret: audience, tenant, the app's service principal", async () => {
    const { app, secret } = appWithPassword();
    const sp = cloud.tenant.servicePrincipalByAppId(app.appId)!;
    const token = await credential(app.appId, secret).getToken(graphScope);
    const claims = decodeJwt(token!.token);
    expect(sp.servicePrincipalType).toBe('Application');
    expect(claims).toMatchObject({ aud: cloud.origins.graph, tid, oid: sp.id, appid: app.appId, roles: [] });
    expect(token!.expiresOnTimestamp).toBeGreaterThan(Date.now() + 3000_000);

    const vault = decodeJwt(
      (await credential(app.appId, secret).getToken('https://vault.azure.net/.default'))!.token,
    );
    expect(vault.aud).toBe('https://vault.azure.net');
    expect(vault.oid).toBe(sp.id);
    expect(vault).not.toHaveProperty('roles');
  });

  it('refuses a new secret until the replication delay has passed, then accepts it', async () => {
    const { app } = appWithPassword();
    cloud.tenant.replicationDelayMs = 700;
    try {
      const fresh = cloud.tenant.issuePassword(app, { displayName: 'new' });
      const cred = credential(app.appId, fresh.secretText);
      await expect(cred.getToken(graphScope)).rejects.toThrow(/AADSTS7000215/);
      cloud.clock.advance(700); // the cloud's clock, not a real wait
      expect((await cred.getToken(graphScope))?.token).toBeTruthy();
    } finally {
      cloud.tenant.replicationDelayMs = 0;
    }
  });

  it('refuses an expired secret with AADSTS7000222', async () => {
    const { app, secret } = appWithPassword(new Date(Date.now() - 1000));
    await expect(credential(app.appId, secret).getToken(graphScope)).rejects.toThrow(/AADSTS7000222/);
  });

  it('refuses a removed secret with AADSTS7000215', async () => {
    const { app, secret } = appWithPassword();
    expect((await credential(app.appId, secret).getToken(graphScope))?.token).toBeTruthy();
    app.passwordCredentials.length = 0;
    await expect(credential(app.appId, secret).getToken(graphScope)).rejects.toThrow(/AADSTS7000215/);
  });

  it('refuses an unknown application with AADSTS700016', async () => {
    await expect(credential(randomUUID(), 'x'.repeat(40)).getToken(graphScope)).rejects.toThrow(
      /AADSTS700016/,
    );
  });

  it('issues the on-premises rotator tokens for its service principal, with its Graph roles', async () => {
    const env = cloud.servicePrincipalEnv();
    const cred = new ClientSecretCredential(
      env.AZURE_TENANT_ID!,
      env.AZURE_CLIENT_ID!,
      env.AZURE_CLIENT_SECRET!,
      {
        authorityHost: env.AZURE_AUTHORITY_HOST,
        disableInstanceDiscovery: true,
      },
    );
    const claims = decodeJwt((await cred.getToken('https://graph.microsoft.com/.default'))!.token);
    expect(claims).toMatchObject({
      aud: 'https://graph.microsoft.com',
      oid: cloud.rotator.id,
      appid: cloud.rotator.appId,
    });
    expect(claims.roles).toEqual(cloud.rotator.graphRoles);
  });
});

describe('Entra authority: apps without a service principal, Conditional Access', () => {
  const signIn = (appId: string, secret: string) =>
    postToken({
      client_id: appId,
      client_secret: secret,
      scope: graphScope,
      grant_type: 'client_credentials',
    });

  it('refuses an app registration without a service principal: 401 invalid_client AADSTS7000229', async () => {
    const app = cloud.tenant.addApplication({
      displayName: `no-sp-${randomUUID().slice(0, 8)}`,
      servicePrincipal: false,
      passwords: [{ startDateTime: new Date(Date.now() - DAY), endDateTime: new Date(Date.now() + DAY) }],
    });
    const secret = app.passwordCredentials[0]!.secretText;
    const res = await signIn(app.appId, secret);
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({
      error: 'invalid_client',
      error_codes: [7000229],
      error_uri: 'https://login.microsoftonline.com/error?code=7000229',
    });
    expect(res.body.error_description).toMatch(
      new RegExp(
        `^AADSTS7000229: The client application ${app.appId} is missing service principal in the tenant ${tid}\\.`,
      ),
    );
    expect(res.text).not.toContain(secret);
    // Signing in does not create it (real Entra does not either); creating it lets the app sign in.
    expect(cloud.tenant.servicePrincipalByAppId(app.appId)).toBeUndefined();
    await expect(credential(app.appId, secret).getToken(graphScope)).rejects.toThrow(/AADSTS7000229/);
    cloud.tenant.addServicePrincipal({ displayName: app.displayName, appId: app.appId });
    expect((await signIn(app.appId, secret)).status).toBe(200);
  });

  it('a tenant can make apps without service principals by default', () => {
    cloud.tenant.servicePrincipalsByDefault = false;
    try {
      const bare = cloud.tenant.addApplication({ displayName: 'bare' });
      const withSp = cloud.tenant.addApplication({ displayName: 'with', servicePrincipal: true });
      expect(cloud.tenant.servicePrincipalByAppId(bare.appId)).toBeUndefined();
      expect(cloud.tenant.servicePrincipalByAppId(withSp.appId)?.servicePrincipalType).toBe('Application');
    } finally {
      cloud.tenant.servicePrincipalsByDefault = true;
    }
  });

  it('a Conditional Access block answers 400 interaction_required AADSTS53003 message_only, after the secret check', async () => {
    const { app, secret } = appWithPassword();
    cloud.tenant.blockByConditionalAccess(app.appId);
    const wrong = await signIn(app.appId, `${secret}x`);
    expect([wrong.status, wrong.body.error, wrong.body.error_codes]).toEqual([
      401,
      'invalid_client',
      [7000215],
    ]);
    expect(wrong.body).not.toHaveProperty('suberror');

    const blocked = await signIn(app.appId, secret);
    expect(blocked.status).toBe(400);
    expect(blocked.body).toMatchObject({
      error: 'interaction_required',
      error_codes: [53003],
      suberror: 'message_only',
      error_uri: 'https://login.microsoftonline.com/error?code=53003',
    });
    expect(blocked.body.error_description).toMatch(
      /^AADSTS53003: Access has been blocked by Conditional Access policies\. The access policy does not allow token issuance\.\r\nTrace ID: /,
    );
    expect(blocked.text).not.toContain(secret);
    await expect(credential(app.appId, secret).getToken(graphScope)).rejects.toThrow(/AADSTS53003/);

    cloud.tenant.blockByConditionalAccess(app.appId, false);
    expect((await signIn(app.appId, secret)).status).toBe(200);
  });

  it('an app created blocked by Conditional Access', async () => {
    const app = cloud.tenant.addApplication({
      displayName: 'ca-blocked',
      conditionalAccessBlocked: true,
      passwords: [{ startDateTime: new Date(Date.now() - DAY), endDateTime: new Date(Date.now() + DAY) }],
    });
    const res = await signIn(app.appId, app.passwordCredentials[0]!.secretText);
    expect([res.status, res.body.error_codes]).toEqual([400, [53003]]);
  });
});

describe('Entra authority: token endpoint errors on the wire', () => {
  it('answers the documented statuses and codes, and never echoes the secret', async () => {
    const { app, secret } = appWithPassword();
    const base = {
      client_id: app.appId,
      client_secret: secret,
      scope: graphScope,
      grant_type: 'client_credentials',
    };
    const cases: Array<[Record<string, string>, number, string, number]> = [
      [{ ...base, grant_type: 'password' }, 400, 'unsupported_grant_type', 70003],
      [{ ...base, scope: `${cloud.origins.graph}/Application.Read.All` }, 400, 'invalid_scope', 1002012],
      [{ ...base, scope: `${graphScope} https://vault.azure.net/.default` }, 400, 'invalid_scope', 70011],
      [{ ...base, client_secret: `${secret}x` }, 401, 'invalid_client', 7000215],
      [{ ...base, client_id: randomUUID() }, 400, 'unauthorized_client', 700016],
      [{ ...base, client_secret: '' }, 401, 'invalid_client', 7000216],
    ];
    for (const [form, status, error, code] of cases) {
      const res = await postToken(form);
      expect([res.status, res.body.error, res.body.error_codes]).toEqual([status, error, [code]]);
      expect(res.text).not.toContain(secret);
    }
    const ok = await postToken(base);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599 });
  });

  it('drops the trailing slash of the resource in the audience (ACS asks for https://communication.azure.com//.default)', async () => {
    const { app, secret } = appWithPassword();
    const token = await credential(app.appId, secret).getToken('https://communication.azure.com//.default');
    expect(decodeJwt(token!.token).aud).toBe('https://communication.azure.com');
  });

  it('shapes injected faults as Entra errors', async () => {
    const { app, secret } = appWithPassword();
    cloud.faults.fail('entra.token', 503, 1, { retryAfterSeconds: 0 });
    const res = await postToken({
      client_id: app.appId,
      client_secret: secret,
      scope: graphScope,
      grant_type: 'client_credentials',
    });
    expect(res.status).toBe(503);
    expect(res.body.error).toBe('temporarily_unavailable');
    expect(res.text).not.toContain(secret);
  });
});

describe('managed identity endpoint (App Service style)', () => {
  it('gives ManagedIdentityCredential a Graph token for the rotator with its roles', async () => {
    const token = await new ManagedIdentityCredential().getToken(graphScope);
    const claims = decodeJwt(token!.token);
    expect(claims).toMatchObject({
      aud: cloud.origins.graph,
      tid,
      oid: cloud.rotator.id,
      appid: cloud.rotator.appId,
    });
    expect(claims.roles).toEqual(cloud.rotator.graphRoles);
    expect(token!.expiresOnTimestamp).toBeGreaterThan(Date.now() + 3000_000);
  });

  it('serves DefaultAzureCredential and the user-assigned client id of the rotator', async () => {
    const dac = await new DefaultAzureCredential().getToken('https://vault.azure.net/.default');
    expect(decodeJwt(dac.token)).toMatchObject({ aud: 'https://vault.azure.net', oid: cloud.rotator.id });
    const ua = await new ManagedIdentityCredential({ clientId: cloud.rotator.appId }).getToken(
      `${freshResource()}/.default`,
    );
    expect(decodeJwt(ua!.token).oid).toBe(cloud.rotator.id);
    expect(cloud.log.count('mi.token', (e) => e.status === 200)).toBeGreaterThanOrEqual(2);
  });

  it('refuses another user-assigned identity with 400, asked once (no 404 retry storm)', async () => {
    const before = cloud.log.count('mi.token');
    await expect(
      new ManagedIdentityCredential({ clientId: randomUUID() }).getToken(`${freshResource()}/.default`),
    ).rejects.toThrow();
    expect(cloud.log.count('mi.token')).toBe(before + 1);
    expect(cloud.log.entries.filter((e) => e.op === 'mi.token').at(-1)?.status).toBe(400);
  });

  it('checks X-IDENTITY-HEADER, api-version and resource on the wire', async () => {
    const url = (q: string) => `${cloud.env.IDENTITY_ENDPOINT}?${q}`;
    const good = { 'x-identity-header': cloud.identityHeader };
    const wrong = await fetch(url('api-version=2019-08-01&resource=https://vault.azure.net'), {
      headers: { 'x-identity-header': 'nope' },
    });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ statusCode: 401 });
    expect((await fetch(url('api-version=2019-08-01&resource=https://vault.azure.net'))).status).toBe(401);
    expect((await fetch(url('api-version=2019-08-01'), { headers: good })).status).toBe(400);
    expect((await fetch(url('resource=https://vault.azure.net'), { headers: good })).status).toBe(400);

    const res = await fetch(url('api-version=2019-08-01&resource=https%3A%2F%2Fcommunication.azure.com%2F'), {
      headers: good,
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, string>;
    expect(body).toMatchObject({
      resource: 'https://communication.azure.com/',
      token_type: 'Bearer',
      client_id: cloud.rotator.appId,
    });
    expect(body.expires_on).toMatch(/^\d+$/);
    expect(Number(body.expires_on)).toBeGreaterThan(Date.now() / 1000 + 3000);
    expect(decodeJwt(body.access_token!).aud).toBe('https://communication.azure.com');
  });
});
