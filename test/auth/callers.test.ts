// The caller check (contract §8 "HTTP callers") against the simulated authority: real RS256 tokens signed by the
// tenant's published key (or a stranger's), checked the way the functions check them. Every refusal says what
// was wrong and what to do, and never echoes the token.
import { describe, expect, it } from 'vitest';
import {
  authorizeCaller,
  CallerRefused,
  requireCaller,
  rolesForRotate,
  ROLES,
  type CallerAuthConfig,
  type CallerCheck,
} from '../../src/auth/callers.js';
import { callerAuthConfig, checkCaller } from '../../src/auth/config.js';
import { loadSettings } from '../../src/settings.js';
import { startSimCloud } from '../sim/cloud.js';
import { freePort } from '../sim/http.js';

const cloud = await startSimCloud({ graphThrottling: false });
const config: CallerAuthConfig = {
  authorityHost: cloud.env.AZURE_AUTHORITY_HOST!,
  tenantId: cloud.tenant.tenantId,
  audiences: [cloud.apiAudience, 'api://entra-secret-rotator'],
};
const bearer = (token: string) => `Bearer ${token}`;
const refused = (check: CallerCheck) => {
  if (check.ok) throw new Error('expected a refusal');
  return check;
};

describe('who may call', () => {
  it('accepts a token of this tenant for this API with the role, and names the caller', async () => {
    const token = await cloud.callerToken({
      roles: [ROLES.read],
      appId: 'c0ffee00-0000-0000-0000-000000000001',
    });
    const check = await authorizeCaller(bearer(token), config, [ROLES.read]);
    expect(check).toMatchObject({ ok: true, caller: { appId: 'c0ffee00-0000-0000-0000-000000000001' } });
    expect(check.ok && check.caller.oid).toMatch(/^[0-9a-f-]{36}$/);
    const user = await cloud.callerToken({ roles: [ROLES.read], name: 'Ann Operator', oid: 'o-1' });
    expect(await requireCaller(bearer(user), config, [ROLES.read])).toMatchObject({
      oid: 'o-1',
      name: 'Ann Operator',
    });
  });

  it('401 without a token, with an RFC 6750 challenge and what to send', async () => {
    for (const header of [undefined, null, '']) {
      const r = refused(await authorizeCaller(header, config, [ROLES.read]));
      expect(r).toMatchObject({
        status: 401,
        code: 'missing_token',
        headers: { 'www-authenticate': 'Bearer' },
      });
      expect(r.message).toContain('Authorization: Bearer');
      expect(r.message).toContain(cloud.apiAudience);
    }
  });

  it('401 for a header that is not a bearer token, or a token that is not a signed JWT', async () => {
    expect(refused(await authorizeCaller('Basic dXNlcjpwYXNz', config, [ROLES.read]))).toMatchObject({
      status: 401,
      code: 'invalid_request',
    });
    for (const junk of ['not-a-jwt', 'a.b.c', 'eyJhbGciOiJub25lIn0.eyJvaWQiOiJ4In0.']) {
      const r = refused(await authorizeCaller(bearer(junk), config, [ROLES.read]));
      expect(r).toMatchObject({ status: 401, code: 'invalid_token' });
      expect(r.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token", error_description="/);
    }
  });

  it.each<[string, () => Promise<string>, RegExp]>([
    [
      'meant for another API',
      () => cloud.callerToken({ roles: [ROLES.read], audience: 'https://graph.microsoft.com' }),
      /audience "https:\/\/graph\.microsoft\.com" is not this API \(API_AUDIENCE: /,
    ],
    [
      'issued by another authority',
      () => cloud.callerToken({ roles: [ROLES.read], issuer: 'https://login.evil.example/x/v2.0' }),
      /issuer "https:\/\/login\.evil\.example\/x\/v2\.0" is not this tenant/,
    ],
    [
      'a v1 token of this tenant',
      () =>
        cloud.callerToken({
          roles: [ROLES.read],
          issuer: `https://sts.windows.net/${cloud.tenant.tenantId}/`,
        }),
      /requestedAccessTokenVersion to 2/,
    ],
    [
      'issued for another tenant',
      () => cloud.callerToken({ roles: [ROLES.read], tenantId: '11111111-1111-1111-1111-111111111111' }),
      /issuer .*11111111-1111-1111-1111-111111111111.* is not this tenant/,
    ],
    [
      'expired',
      () => cloud.callerToken({ roles: [ROLES.read], expiresInSeconds: -3600 }),
      /the token expired at \d{4}-\d\d-\d\dT.*; get a new one/,
    ],
    [
      'signed by a key the tenant does not publish',
      () => cloud.callerToken({ roles: [ROLES.read], signedBy: 'stranger' }),
      /signature is not valid|not signed by a key/,
    ],
  ])('401 for a token %s, saying so without echoing it', async (_what, mint, says) => {
    const token = await mint();
    const r = refused(await authorizeCaller(bearer(token), config, [ROLES.read]));
    expect(r).toMatchObject({ status: 401, code: 'invalid_token' });
    expect(r.message).toMatch(says);
    const everything = JSON.stringify(r);
    for (const part of token.split('.')) expect(everything).not.toContain(part);
  });

  it('403 for a valid token without the role, naming the role and how to get it', async () => {
    const none = await cloud.callerToken({ appId: 'c0ffee00-0000-0000-0000-000000000002' });
    const r = refused(await authorizeCaller(bearer(none), config, [ROLES.read]));
    expect(r).toMatchObject({ status: 403, code: 'forbidden' });
    expect(r.message).toContain('c0ffee00-0000-0000-0000-000000000002 lacks the app role Rotation.Read');
    expect(r.message).toMatch(/assign it .*then get a new token/);
    const readOnly = await cloud.callerToken({ roles: [ROLES.read] });
    expect(refused(await authorizeCaller(bearer(readOnly), config, [ROLES.rotate])).status).toBe(403);
  });

  it('asks for Rotation.Force too when the request forces, covers all apps or revokes', async () => {
    expect(rolesForRotate({})).toEqual([ROLES.rotate]);
    expect(rolesForRotate({ force: false, all: false })).toEqual([ROLES.rotate]);
    for (const body of [{ force: true }, { all: true }, { revokeSuperseded: true }])
      expect(rolesForRotate(body)).toEqual([ROLES.rotate, ROLES.force]);
    const rotator = await cloud.callerToken({ roles: [ROLES.rotate] });
    const r = refused(await authorizeCaller(bearer(rotator), config, rolesForRotate({ force: true })));
    expect(r).toMatchObject({
      status: 403,
      message: expect.stringContaining('lacks the app role Rotation.Force'),
    });
    expect((await authorizeCaller(bearer(rotator), config, rolesForRotate({}))).ok).toBe(true);
    const forcer = await cloud.callerToken({ roles: [ROLES.rotate, ROLES.force] });
    expect((await authorizeCaller(bearer(forcer), config, rolesForRotate({ force: true }))).ok).toBe(true);
  });

  it('judges expiry by the injected clock', async () => {
    const token = await cloud.callerToken({ roles: [ROLES.read], expiresInSeconds: 600 });
    const later = { now: () => new Date(Date.now() + 3_600_000), sleep: async () => undefined };
    expect(
      refused(await authorizeCaller(bearer(token), { ...config, clock: later }, [ROLES.read])).message,
    ).toMatch(/expired/);
    expect((await authorizeCaller(bearer(token), config, [ROLES.read])).ok).toBe(true);
  });

  it('500 when API_AUDIENCE is not set, 503 when the keys cannot be fetched: operator problems, not the caller’s', async () => {
    const token = await cloud.callerToken({ roles: [ROLES.read] });
    expect(
      refused(await authorizeCaller(bearer(token), { ...config, audiences: [] }, [ROLES.read])),
    ).toMatchObject({
      status: 500,
      code: 'caller_auth_not_configured',
    });
    const nowhere = { ...config, authorityHost: `https://127.0.0.1:${await freePort()}` };
    const r = refused(await authorizeCaller(bearer(token), nowhere, [ROLES.read]));
    expect(r).toMatchObject({ status: 503, code: 'keys_unavailable' });
    await expect(requireCaller(bearer(token), nowhere, [ROLES.read])).rejects.toBeInstanceOf(CallerRefused);
  });

  it('fetches the published keys once per process, not per call', async () => {
    cloud.log.clear();
    for (let i = 0; i < 3; i++) {
      const token = await cloud.callerToken({ roles: [ROLES.read] });
      expect((await authorizeCaller(bearer(token), config, [ROLES.read])).ok).toBe(true);
    }
    expect(cloud.log.count('entra.keys')).toBe(0); // fetched by the first test already
  });
});

describe('settings', () => {
  it('takes the authority, the tenant and API_AUDIENCE from the settings', async () => {
    const settings = loadSettings(
      { ...cloud.env, AZURE_TENANT_ID: cloud.tenant.tenantId },
      { requireKeyVault: false },
    );
    expect(await callerAuthConfig(settings)).toMatchObject({
      authorityHost: cloud.env.AZURE_AUTHORITY_HOST,
      tenantId: cloud.tenant.tenantId,
      audiences: [cloud.apiAudience],
    });
  });

  it('checks a request in one call (what every handler does), throwing CallerRefused', async () => {
    const settings = loadSettings(
      { ...cloud.env, AZURE_TENANT_ID: cloud.tenant.tenantId },
      { requireKeyVault: false },
    );
    const token = await cloud.callerToken({ roles: [ROLES.rotate], oid: 'o-2' });
    const request = new Request('https://rotator.example/api/rotate', {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(await checkCaller(request, settings, rolesForRotate({}))).toMatchObject({ oid: 'o-2' });
    await expect(checkCaller(request, settings, rolesForRotate({ all: true }))).rejects.toMatchObject({
      status: 403,
      code: 'forbidden',
    });
    await expect(
      checkCaller(new Request('https://rotator.example/'), settings, [ROLES.read]),
    ).rejects.toMatchObject({
      status: 401,
      code: 'missing_token',
      headers: { 'www-authenticate': 'Bearer' },
    });
  });
});
