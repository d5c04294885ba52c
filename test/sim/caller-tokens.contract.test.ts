// Contract of the tokens the simulated authority issues to callers of the rotator's own API (issue 13 §2):
// published like Entra publishes them (OpenID metadata, JWKS, RS256 with a kid), verified here with jose the way
// the product verifies them, against the keys fetched from the authority.
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { SimClock } from './clock.js';
import { startSimCloud } from './cloud.js';

const clock = new SimClock({ start: Date.parse('2031-03-01T12:00:00Z'), frozen: true });
const cloud = await startSimCloud({ clock });
afterAll(() => cloud.stop());

const tid = cloud.tenant.tenantId;
const issuer = `${cloud.origins.entra}/${tid}/v2.0`;
const meta = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as {
  issuer: string;
  jwks_uri: string;
  id_token_signing_alg_values_supported: string[];
};
const jwks = createRemoteJWKSet(new URL(meta.jwks_uri));
const verify = (token: string, at = clock.now()) =>
  jwtVerify(token, jwks, { issuer, audience: cloud.apiAudience, algorithms: ['RS256'], currentDate: at });

describe('Entra authority: published signing keys', () => {
  it('publishes RS256 keys with a kid at the metadata jwks_uri, as Entra does', async () => {
    expect(meta.issuer).toBe(issuer);
    expect(meta.jwks_uri).toBe(`${cloud.origins.entra}/${tid}/discovery/v2.0/keys`);
    expect(meta.id_token_signing_alg_values_supported).toEqual(['RS256']);
    const res = await fetch(meta.jwks_uri);
    expect(res.status).toBe(200);
    const set = (await res.json()) as JSONWebKeySet;
    expect(set.keys).toHaveLength(1);
    expect(set.keys[0]).toMatchObject({
      kty: 'RSA',
      use: 'sig',
      alg: 'RS256',
      kid: cloud.issuer.kid,
      e: 'AQAB',
    });
    expect(set.keys[0]).not.toHaveProperty('d'); // public half only
  });

  it('signs the rotator-facing resource tokens with the same published key', async () => {
    const token = await cloud.issuer.mint(
      { aud: 'https://vault.azure.net', tid, oid: cloud.rotator.id, appid: cloud.rotator.appId },
      { nowSeconds: clock.nowSeconds() },
    );
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'RS256', kid: cloud.issuer.kid, typ: 'JWT' });
    const { payload } = await jwtVerify(token, jwks, { currentDate: clock.now() });
    expect(payload.aud).toBe('https://vault.azure.net');
  });
});

describe('cloud.callerToken: v2 access tokens for the rotator API', () => {
  it('carries the v2 claims of an app caller with its roles, times from the cloud clock', async () => {
    const oid = randomUUID();
    const appId = randomUUID();
    const token = await cloud.callerToken({ roles: ['Rotation.Read', 'Rotation.Rotate'], oid, appId });
    const { payload, protectedHeader } = await verify(token);
    expect(protectedHeader).toMatchObject({ alg: 'RS256', kid: cloud.issuer.kid });
    expect(payload).toMatchObject({
      iss: issuer,
      aud: cloud.apiAudience,
      tid,
      oid,
      sub: oid,
      azp: appId,
      azpacr: '1',
      roles: ['Rotation.Read', 'Rotation.Rotate'],
      ver: '2.0',
      idtyp: 'app',
    });
    expect(payload.iat).toBe(clock.nowSeconds());
    expect(payload.exp).toBe(clock.nowSeconds() + 3600);
    expect(payload.nbf).toBeLessThanOrEqual(payload.iat!);
    expect(payload).not.toHaveProperty('name');
  });

  it('has no roles claim when the caller holds no role, and a name for a user caller', async () => {
    const { payload } = await verify(await cloud.callerToken({ name: 'Ada Admin' }));
    expect(payload).not.toHaveProperty('roles');
    expect(payload).toMatchObject({ name: 'Ada Admin', idtyp: 'user' });
  });

  it('a v2 audience is the API client id (a GUID), and other audiences or issuers can be minted', async () => {
    expect(cloud.apiAudience).toMatch(/^[0-9a-f-]{36}$/);
    const other = await cloud.callerToken({ audience: 'https://graph.microsoft.com' });
    await expect(verify(other)).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'aud',
    });
    const foreign = await cloud.callerToken({ issuer: `${cloud.origins.entra}/${randomUUID()}/v2.0` });
    await expect(verify(foreign)).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'iss',
    });
  });

  it('expires on the cloud clock', async () => {
    const token = await cloud.callerToken({ expiresInSeconds: 600 });
    await expect(verify(token)).resolves.toBeTruthy();
    clock.advance(601_000);
    await expect(verify(token)).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
    const stale = await cloud.callerToken({ expiresInSeconds: -60 });
    await expect(verify(stale)).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
  });

  it("a token signed by a stranger under the authority's kid fails signature verification", async () => {
    const forged = await cloud.callerToken({ roles: ['Rotation.Force'], signedBy: 'stranger' });
    expect(decodeProtectedHeader(forged).kid).toBe(cloud.issuer.kid);
    await expect(verify(forged)).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  });

  it('the settings the cloud hands out name the audience and allow the simulator hosts', () => {
    for (const env of [cloud.env, cloud.servicePrincipalEnv()]) {
      expect(env.API_AUDIENCE).toBe(cloud.apiAudience);
      expect(env.ALLOW_CUSTOM_ENDPOINTS).toBe('true');
    }
  });
});
