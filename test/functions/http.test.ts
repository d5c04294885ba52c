// The HTTP functions (contract.md §6) called as the host would call them, against the simulated cloud and Azurite:
// strict validation with no change on refusal, the report, the inventory, settings errors, unexpected errors,
// and the time budget that hands unreached apps to the queue.
import { HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { decodeAsHost, WORK_QUEUE } from '../../src/azure/queue.js';
import { RunTable } from '../../src/azure/runs.js';
import { rotateHttp, rotateHttpHandler } from '../../src/functions/rotateHttp.js';
import { runsHttp } from '../../src/functions/runsHttp.js';
import { scanHttp, scanHttpHandler } from '../../src/functions/scanHttp.js';
import type { Report } from '../../src/rotation/report.js';
import { envEdge } from '../../src/run.js';
import { loadSettings } from '../../src/settings.js';
import { systemClock } from '../../src/util/clock.js';
import { startSimCloud } from '../sim/cloud.js';
import { freePort } from '../sim/http.js';
import { seedDemoTenant } from '../sim/seed.js';
import { invocation, operatorToken } from './host.js';

const cloud = await startSimCloud({ graphThrottling: false });
afterAll(() => cloud.stop());
const storage = inject('azuriteConnectionString');
const baseEnv = {
  ...cloud.env,
  AzureWebJobsStorage: storage,
  VERIFY_TIMEOUT_SECONDS: '5',
  LOCK_WAIT_SECONDS: '1',
  HTTP_TIME_BUDGET_SECONDS: '200',
};
Object.assign(process.env, baseEnv);
const envSnapshot = { ...process.env };
const demo = seedDemoTenant(cloud);

const logs: string[] = [];
const responses: string[] = [];
const ctx = (functionName = 'rotate') => invocation(functionName, (_level, line) => logs.push(line));

/** A caller holding every role, minted afresh for each test (the endpoints refuse calls without one). */
let token = '';
const auth = () => ({ authorization: `Bearer ${token}` });

const request = (
  body: string | Uint8Array | undefined,
  headers: Record<string, string> = { 'content-type': 'application/json' },
  method = 'POST',
  url = 'https://rotator.example/api/rotate?code=function-key',
) =>
  new HttpRequest({
    method,
    url,
    headers: { ...auth(), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? { string: body } : { bytes: body },
  });

async function call(
  handler: (r: HttpRequest, c: InvocationContext) => Promise<HttpResponseInit>,
  req: HttpRequest,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are inspected loosely
): Promise<{ status: number; body: any; headers: Record<string, string> }> {
  const res = await handler(req, ctx());
  const text = JSON.stringify(res.jsonBody ?? null);
  responses.push(text);
  return {
    status: res.status ?? 200,
    body: res.jsonBody,
    headers: (res.headers ?? {}) as Record<string, string>,
  };
}

/** Requests that reached Graph or Key Vault (the caller check itself reads only the authority's keys). */
const cloudCalls = () => cloud.log.count(/^(graph|keyvault)\./);
const writes = () =>
  cloud.log.count(/^graph\.(addPassword|removePassword)$/) + cloud.log.countServed('keyvault.setSecret');
const G = () => randomUUID();

beforeEach(async () => {
  token = await operatorToken(cloud);
  for (const k of Object.keys(process.env)) if (!(k in envSnapshot)) delete process.env[k];
  Object.assign(process.env, envSnapshot);
  cloud.faults.clear();
  cloud.log.clear();
});

afterAll(() => {
  // No secret value the cloud ever issued appears in any response or log line.
  const secrets = cloud.issuedSecrets();
  expect(secrets.length).toBeGreaterThan(0);
  for (const s of secrets) {
    for (const r of responses) expect(r).not.toContain(s);
    for (const l of logs) expect(l).not.toContain(s);
  }
});

describe('POST /api/rotate refuses malformed requests with no change', () => {
  const big = JSON.stringify({ dryRun: true, pad: 'x'.repeat(70 * 1024) });
  const cases: Array<[string, () => HttpRequest, number, string]> = [
    ['malformed JSON', () => request('{"dryRun": tru'), 400, 'invalid_json'],
    ['trailing garbage', () => request('{} x'), 400, 'invalid_json'],
    ['a JSON array', () => request('[]'), 400, 'invalid_request'],
    ['JSON null', () => request('null'), 400, 'invalid_request'],
    ['a JSON number', () => request('42'), 400, 'invalid_request'],
    ['a JSON string', () => request('"rotate"'), 400, 'invalid_request'],
    ['an unknown field', () => request(JSON.stringify({ appId: G() })), 400, 'unknown_field'],
    ['a __proto__ field', () => request('{"__proto__": {"force": true}}'), 400, 'unknown_field'],
    ['dryRun as a string', () => request('{"dryRun": "true"}'), 400, 'invalid_request'],
    ['force as a number', () => request(JSON.stringify({ appIds: [G()], force: 1 })), 400, 'invalid_request'],
    ['appIds as a string', () => request(JSON.stringify({ appIds: G() })), 400, 'invalid_request'],
    ['appIds as an object', () => request('{"appIds": {"0": "x"}}'), 400, 'invalid_request'],
    ['an empty appIds', () => request('{"appIds": []}'), 400, 'invalid_request'],
    ['a non-GUID appId', () => request('{"appIds": ["payroll-api"]}'), 400, 'invalid_request'],
    ['a GUID in braces', () => request(JSON.stringify({ appIds: [`{${G()}}`] })), 400, 'invalid_request'],
    ['a number in appIds', () => request('{"appIds": [42]}'), 400, 'invalid_request'],
    ['null in appIds', () => request('{"appIds": [null]}'), 400, 'invalid_request'],
    [
      'a duplicate appId (case-blind)',
      () => {
        const id = G();
        return request(JSON.stringify({ appIds: [id, id.toUpperCase()] }));
      },
      400,
      'invalid_request',
    ],
    [
      'too many appIds',
      () => request(JSON.stringify({ appIds: Array.from({ length: 101 }, G) })),
      400,
      'invalid_request',
    ],
    ['force without appIds', () => request('{"force": true}'), 400, 'invalid_request'],
    ['a body over 64 KiB without Content-Length', () => request(big), 413, 'payload_too_large'],
    [
      'a Content-Length over 64 KiB',
      () => request('{}', { 'content-type': 'application/json', 'content-length': '70000' }),
      413,
      'payload_too_large',
    ],
    ['text/plain', () => request('{}', { 'content-type': 'text/plain' }), 415, 'unsupported_media_type'],
    ['no content type', () => request('{"dryRun": true}', {}), 415, 'unsupported_media_type'],
    [
      'a charset other than UTF-8',
      () => request('{}', { 'content-type': 'application/json; charset=iso-8859-1' }),
      415,
      'unsupported_media_type',
    ],
    ['invalid UTF-8', () => request(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), 400, 'invalid_json'],
    ['GET', () => request(undefined, {}, 'GET'), 405, 'method_not_allowed'],
    ['PUT', () => request('{}', undefined, 'PUT'), 405, 'method_not_allowed'],
    ['DELETE', () => request(undefined, {}, 'DELETE'), 405, 'method_not_allowed'],
  ];

  it.each(cases)('%s', async (_name, make, status, code) => {
    const before = cloudCalls();
    const res = await call(rotateHttp, make());
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
    expect(typeof res.body.error.message).toBe('string');
    expect(Object.keys(res.body)).toEqual(['error']);
    if (status === 405) expect(res.headers.allow).toBe('POST');
    // Refused before anything reached the cloud at all.
    expect(cloudCalls()).toBe(before);
    expect(writes()).toBe(0);
  });

  it('the error message echoes at most a clipped part of what was sent', async () => {
    const res = await call(rotateHttp, request(JSON.stringify({ appIds: ['z'.repeat(5000)] })));
    expect(res.status).toBe(400);
    expect(res.body.error.message.length).toBeLessThan(200);
  });
});

describe('handlers built from their edge (settings, clock, adapters), process.env untouched', () => {
  it('reads the settings it is given', async () => {
    const handler = rotateHttpHandler(envEdge({ ...baseEnv, RENEW_BEFORE_DAYS: 'soon' }));
    const res = await call(handler, request('{"dryRun": true}'));
    expect(res.status).toBe(500);
    expect(res.body.error.message).toMatch(/^Setting RENEW_BEFORE_DAYS "soon" is invalid/);
    expect(cloudCalls()).toBe(0);
  });

  it('decides by the clock it is given: a year on, the up-to-date app has expired', async () => {
    const yearOn = { ...systemClock, now: () => new Date(Date.now() + 366 * 86_400_000) };
    token = await cloud.callerToken({ roles: ['Rotation.Read'], expiresInSeconds: 367 * 86_400 });
    const handler = scanHttpHandler({ ...envEdge(baseEnv), clock: yearOn });
    const res = await call(handler, request(undefined, {}, 'GET', 'https://x/api/scan'));
    const entry = (res.body as Report).apps.find((a) => a.appId === demo.apps.upToDate.appId);
    expect(entry).toMatchObject({ action: 'would-rotate', code: 'secret-expired' });
    const today = await call(scanHttp, request(undefined, {}, 'GET', 'https://x/api/scan'));
    const now = (today.body as Report).apps.find((a) => a.appId === demo.apps.upToDate.appId);
    expect(now).toMatchObject({ action: 'up-to-date', code: 'current-secret-valid' });
  });
});

describe('settings and unexpected errors', () => {
  it('a bad setting answers 500 with the setting message, before any call', async () => {
    process.env.RENEW_BEFORE_DAYS = 'soon';
    const res = await call(rotateHttp, request('{"dryRun": true}'));
    expect(res.status).toBe(500);
    expect(res.body.error.code).toBe('invalid_setting');
    expect(res.body.error.message).toMatch(/^Setting RENEW_BEFORE_DAYS "soon" is invalid/);
    expect(cloudCalls()).toBe(0);
  });

  it('a missing KEY_VAULT_URL fails rotate but not a dry run or scan', async () => {
    process.env.KEY_VAULT_URL = '';
    const res = await call(rotateHttp, request('{}'));
    expect(res.status).toBe(500);
    expect(res.body.error.message).toMatch(/KEY_VAULT_URL/);
    expect(writes()).toBe(0);
    expect((await call(scanHttp, request(undefined, {}, 'GET', 'https://x/api/scan'))).status).toBe(200);
  });

  it('an unexpected failure answers 500 with a generic message: no stack, no service text', async () => {
    cloud.faults.fail('graph.listOwnedObjects', 403, 1);
    const res = await call(rotateHttp, request('{"dryRun": true}'));
    expect(res.status).toBe(500);
    expect(res.body.error.code).toBe('internal_error');
    expect(res.body.error.message).toMatch(/see the function logs \(invocation [0-9a-f-]{36}\)/);
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts|403|Authorization/);
    expect(writes()).toBe(0);
  });
});

describe('GET /api/scan', () => {
  it('returns the inventory and changes nothing', async () => {
    const res = await call(scanHttp, request(undefined, {}, 'GET', 'https://x/api/scan?code=k'));
    expect(res.status).toBe(200);
    const report = res.body as Report;
    expect(report.dryRun).toBe(true);
    const byId = new Map(report.apps.map((a) => [a.appId, a]));
    expect(byId.get(demo.apps.due.appId)?.action).toBe('would-rotate');
    expect(byId.get(demo.apps.upToDate.appId)?.action).toBe('up-to-date');
    expect(byId.get(demo.apps.disabled.appId)?.action).toBe('skipped');
    expect(byId.has(demo.apps.notOwned.appId)).toBe(false);
    expect(report.summary.scanned).toBe(report.apps.length);
    expect(writes()).toBe(0);
  });

  it('refuses other methods with 405', async () => {
    const res = await call(scanHttp, request('{}', undefined, 'POST', 'https://x/api/scan'));
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET');
    expect(cloudCalls()).toBe(0);
  });
});

describe('POST /api/rotate', () => {
  it('dryRun reports what would change and changes nothing', async () => {
    const res = await call(rotateHttp, request('{"dryRun": true}'));
    expect(res.status).toBe(200);
    expect(res.body.dryRun).toBe(true);
    expect(res.body.summary.wouldRotate).toBeGreaterThan(0);
    expect(writes()).toBe(0);
    expect(cloud.mail.messages).toHaveLength(0);
  });

  it('rotates the listed app, stores it in Key Vault, emails its owners and answers the report', async () => {
    const app = demo.apps.due;
    const res = await call(rotateHttp, request(JSON.stringify({ appIds: [app.appId.toUpperCase()] })));
    expect(res.status).toBe(200);
    const report = res.body as Report;
    expect(report.apps).toHaveLength(1);
    const [r] = report.apps;
    expect(r).toMatchObject({ appId: app.appId, action: 'rotated' });
    expect(app.passwordCredentials.map((p) => p.keyId)).toContain(r!.keyId);
    const stored = [...cloud.vault.allValues()];
    expect(stored.length).toBe(1);
    expect(r!.notified?.sort()).toEqual(['alice@contoso.com', 'bob@contoso.com']);
    expect(cloud.mail.to('alice@contoso.com')).toHaveLength(1);
    // Run table: an inline run, digest already sent.
    const run = await new RunTable(loadSettings(process.env, { requireKeyVault: false }).storage!, {
      getToken: () => Promise.resolve(null),
    }).getRun(report.runId);
    expect(run).toMatchObject({ trigger: 'http', queued: 0, rotatedInline: 1 });
    expect(run?.digestSentAt).toBeTruthy();
  });

  it('force rotates an up-to-date app on request', async () => {
    const res = await call(
      rotateHttp,
      request(JSON.stringify({ appIds: [demo.apps.upToDate.appId], force: true })),
    );
    expect(res.status).toBe(200);
    expect(res.body.apps[0]).toMatchObject({ action: 'rotated', reason: expect.stringMatching(/forced/) });
  });

  it('a run table outage after an inline run does not turn the run into an error', async () => {
    const port = await freePort(); // nothing listens there
    process.env.AzureWebJobsStorage = storage.replace(
      /TableEndpoint=[^;]+/,
      `TableEndpoint=http://127.0.0.1:${port}/devstoreaccount1`,
    );
    const res = await call(
      rotateHttp,
      request(JSON.stringify({ appIds: [demo.apps.twoSecrets.appId], force: true })),
    );
    expect(res.status).toBe(200);
    expect(res.body.apps[0].action).toBe('rotated');
    expect(logs.some((l) => l.includes('could not record the run'))).toBe(true);
  });

  it('a rotate of listed apps sends no REMIND_UNMANAGED reminders (only whole-scope runs do)', async () => {
    process.env.REMIND_UNMANAGED = 'true';
    const foreignOwner = cloud.tenant.addUser({
      displayName: 'Foreign Owner',
      mail: 'foreign.owner@contoso.com',
    });
    cloud.tenant.addApplication({
      displayName: 'Not Managed, Expiring',
      ownerIds: [foreignOwner.id],
      passwords: [
        {
          startDateTime: new Date(Date.now() - 86_400_000),
          endDateTime: new Date(Date.now() + 5 * 86_400_000),
        },
      ],
    });
    const res = await call(rotateHttp, request(JSON.stringify({ appIds: [demo.apps.upToDate.appId] })));
    expect(res.status).toBe(200);
    expect(cloud.mail.to('foreign.owner@contoso.com')).toHaveLength(0);
  });

  it('an unknown appId is reported failed, not refused', async () => {
    const res = await call(rotateHttp, request(JSON.stringify({ appIds: [G()] })));
    expect(res.status).toBe(200);
    expect(res.body.apps[0].action).toBe('failed');
    expect(res.body.apps[0].reason).toMatch(/^not found/);
    expect(writes()).toBe(0);
  });

  it('when the time budget is spent, unreached apps are queued for workers and reported skipped', async () => {
    process.env.HTTP_TIME_BUDGET_SECONDS = '0';
    const res = await call(rotateHttp, request(''));
    expect(res.status).toBe(200);
    const report = res.body as Report;
    const reason = `queued for a worker (run ${report.runId})`;
    const queuedIds = report.apps.filter((a) => a.reason === reason).map((a) => a.appId);
    // Every app that needed work (the due ones, and those whose secrets need a Key Vault check) is handed over.
    expect(queuedIds).toEqual(
      expect.arrayContaining(
        [demo.apps.expired, demo.apps.customName, demo.apps.personal, demo.apps.hostile].map((a) => a.appId),
      ),
    );
    expect(queuedIds).not.toContain(demo.apps.disabled.appId);
    expect(report.apps.filter((a) => a.reason === reason).every((a) => a.action === 'skipped')).toBe(true);
    expect(report.notes?.join(' ')).toMatch(/queued for workers/);
    expect(writes()).toBe(0);
    expect(cloud.mail.messages.filter((m) => m.plainText?.includes(report.runId))).toHaveLength(0);

    // The messages are on the queue the worker reads, in the host's base64 encoding.
    const queue = new QueueClient(storage, WORK_QUEUE);
    const mine = await drainRun(queue, report.runId, queuedIds.length);
    expect(mine.map((m) => m.appId).sort()).toEqual(queuedIds.sort());
    expect(mine.every((m) => m.force === false)).toBe(true);

    const progress = await call(
      runsHttp,
      new HttpRequest({
        method: 'GET',
        url: `https://x/api/runs/${report.runId}`,
        params: { runId: report.runId },
        headers: auth(),
      }),
    );
    expect(progress.status).toBe(200);
    expect(progress.body).toMatchObject({
      runId: report.runId,
      queued: queuedIds.length,
      complete: false,
      trigger: 'http',
    });
  });

  it('GET /api/runs/{runId} answers 404 for an unknown run and 400 for a malformed id', async () => {
    const get = (runId: string) =>
      call(
        runsHttp,
        new HttpRequest({ method: 'GET', url: `https://x/api/runs/x`, params: { runId }, headers: auth() }),
      );
    expect((await get(randomUUID())).status).toBe(404);
    expect((await get("x' or 'a' eq 'a")).status).toBe(400);
  });
});

/** Takes this run's messages off the shared queue (other test files may use it at the same time). */
async function drainRun(queue: QueueClient, runId: string, expected: number) {
  const found: Array<{ runId: string; appId: string; force: boolean }> = [];
  const deadline = Date.now() + 15_000;
  while (found.length < expected && Date.now() < deadline) {
    const { receivedMessageItems } = await queue.receiveMessages({
      numberOfMessages: 32,
      visibilityTimeout: 1,
    });
    for (const m of receivedMessageItems) {
      const body = decodeAsHost(m.messageText) as { runId: string; appId: string; force: boolean };
      if (body.runId !== runId) continue;
      found.push(body);
      await queue.deleteMessage(m.messageId, m.popReceipt);
    }
    if (receivedMessageItems.length === 0) await new Promise((r) => setTimeout(r, 200));
  }
  return found;
}
