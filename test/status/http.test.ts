// GET /api/status called as the host calls it, against the simulated cloud and Azurite: the caller rules of the other
// endpoints (no token 401, no role 403, nothing read from Graph either way), HTML for a browser, JSON on request.
import type * as Functions from '@azure/functions';
import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { afterAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { ROLES } from '../../src/auth/callers.js';
import type { StatusPage } from '../../src/status/model.js';
import { invocation } from '../functions/host.js';
import { startSimCloud } from '../sim/cloud.js';
import { seedDemoTenant } from '../sim/seed.js';

const registered = vi.hoisted(() => new Map<string, Record<string, unknown>>());
vi.mock('@azure/functions', async (original) => {
  const real = await original<typeof Functions>();
  return {
    ...real,
    app: { ...real.app, http: (name: string, o: Record<string, unknown>) => registered.set(name, o) },
  };
});
const { statusHttp } = await import('../../src/functions/statusHttp.js');

const cloud = await startSimCloud({ graphThrottling: false });
afterAll(() => cloud.stop());
Object.assign(process.env, { ...cloud.env, AzureWebJobsStorage: inject('azuriteConnectionString') });
const demo = seedDemoTenant(cloud);
beforeEach(() => cloud.log.clear());

const get = async (headers: Record<string, string>, method = 'GET'): Promise<HttpResponseInit> =>
  statusHttp(
    new HttpRequest({ method, url: 'https://rotator.example/api/status?code=function-key', headers }),
    invocation('status'),
  );
const reads = () => cloud.log.count(/^(graph|keyvault)\./);

describe('GET /api/status', () => {
  it('is registered like the other endpoints: function key, every method answered by the handler', () => {
    expect(registered.get('status')).toMatchObject({ authLevel: 'function', route: 'status' });
    expect(registered.get('status')?.methods).toEqual(expect.arrayContaining(['GET', 'POST', 'DELETE']));
  });

  it('401 without a token and 403 without Rotation.Read, reading nothing from Graph or Key Vault', async () => {
    const none = await get({});
    expect(none).toMatchObject({ status: 401, jsonBody: { error: { code: 'missing_token' } } });
    expect((none.headers as Record<string, string>)['www-authenticate']).toBe('Bearer');
    const rotateOnly = await cloud.callerToken({ roles: [ROLES.rotate] });
    expect(await get({ authorization: `Bearer ${rotateOnly}` })).toMatchObject({
      status: 403,
      jsonBody: { error: { code: 'forbidden', message: expect.stringContaining('Rotation.Read') } },
    });
    const expired = await cloud.callerToken({ roles: [ROLES.read], expiresInSeconds: -600 });
    expect((await get({ authorization: `Bearer ${expired}` })).status).toBe(401);
    expect(reads()).toBe(0);
  });

  it('answers a reader with the page, or with its data as JSON', async () => {
    const token = await cloud.callerToken({ roles: [ROLES.read], name: 'Ann Operator' });
    const html = await get({ authorization: `Bearer ${token}`, accept: 'text/html,*/*;q=0.8' });
    expect(html.status).toBe(200);
    expect(html.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': expect.stringContaining("default-src 'none'"),
    });
    expect(html.body).toContain('Secret rotation status');
    expect(html.body).toContain('&#60;img src=x onerror=alert(1)&#62;');
    expect(html.body).not.toContain('<img');

    const asJson = await get({ authorization: `Bearer ${token}`, accept: 'application/json' });
    expect(asJson.status).toBe(200);
    const page = asJson.jsonBody as StatusPage;
    expect(page.apps.map((a) => a.appId)).toContain(demo.apps.upToDate.appId);
    expect(page.apps.map((a) => a.appId)).not.toContain(demo.apps.notOwned.appId);
    expect(page.apps.find((a) => a.appId === demo.apps.upToDate.appId)).toMatchObject({
      action: 'up-to-date',
      expiresOn: expect.any(String),
      nextDueOn: expect.any(String),
    });
    // A scan: nothing was written.
    expect(
      cloud.log.count(/^graph\.(addPassword|removePassword)$/) + cloud.log.countServed('keyvault.setSecret'),
    ).toBe(0);
  });

  it('405 for anything but GET, before any token check', async () => {
    expect(await get({}, 'POST')).toMatchObject({ status: 405, headers: { allow: 'GET' } });
  });
});
