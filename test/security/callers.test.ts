// Identified callers at every HTTP endpoint (contract §8 "HTTP callers", issue 13 §2), against the simulated cloud
// with real signed tokens: every refusal (401, 403) happens before any Graph or Key Vault request; the caller is
// recorded; repeated forced POSTs cannot flood an app with secrets and its owners with mail; an HTTP run sends
// no tenant-wide reminders; an HTTP caller learns nothing about apps outside the scope.
import { HttpRequest, type HttpResponseInit, type InvocationContext, type Timer } from '@azure/functions';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { ROLES, type Role } from '../../src/auth/callers.js';
import { QueueClient } from '@azure/storage-queue';
import { decodeAsHost, WORK_QUEUE } from '../../src/azure/queue.js';
import { RunTable } from '../../src/azure/runs.js';
import { rotateHttpHandler } from '../../src/functions/rotateHttp.js';
import { rotateTimerHandler } from '../../src/functions/rotateTimer.js';
import { rotateWorkerHandler } from '../../src/functions/rotateWorker.js';
import { runsHttpHandler } from '../../src/functions/runsHttp.js';
import { scanHttpHandler } from '../../src/functions/scanHttp.js';
import { statusHttpHandler } from '../../src/functions/statusHttp.js';
import { forceTooSoon, ROTATOR_PREFIX } from '../../src/rotation/checks.js';
import { policyFor } from '../../src/rotation/policy.js';
import type { Report } from '../../src/rotation/report.js';
import { envEdge, type Edge } from '../../src/run.js';
import { loadSettings } from '../../src/settings.js';
import { ALL_ROLES, invocation } from '../functions/host.js';
import { startSimCloud } from '../sim/cloud.js';
import { seedDemoTenant } from '../sim/seed.js';

const DAY = 86_400_000;
const cloud = await startSimCloud({ graphThrottling: false });
afterAll(() => cloud.stop());
const storage = inject('azuriteConnectionString');
const baseEnv: Record<string, string> = {
  ...cloud.env,
  AzureWebJobsStorage: storage,
  VERIFY_TIMEOUT_SECONDS: '5',
  LOCK_WAIT_SECONDS: '1',
};
// The rotator's own credential (managed identity) reads the process environment, as on the host.
Object.assign(process.env, baseEnv);
const demo = seedDemoTenant(cloud);
/** The product's edge on the cloud's own clock (tokens and credentials are dated by it). */
const edge = (env: Record<string, string> = {}): Edge => ({
  ...envEdge({ ...baseEnv, ...env }),
  clock: cloud.clock,
});

const logs: string[] = [];
const ctx = (name: string): InvocationContext => invocation(name, (_l, line) => logs.push(line));
/** Every request that reached Graph or Key Vault (reads included). */
const cloudCalls = () => cloud.log.count(/^(graph|keyvault)\./);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const token = (roles: Role[], name?: string) => cloud.callerToken({ roles, ...(name ? { name } : {}) });

const post = (body: unknown, headers: Record<string, string>) =>
  new HttpRequest({
    method: 'POST',
    url: 'https://rotator.example/api/rotate',
    headers: { 'content-type': 'application/json', ...headers },
    body: { string: JSON.stringify(body) },
  });
const get = (path: string, headers: Record<string, string>, params: Record<string, string> = {}) =>
  new HttpRequest({ method: 'GET', url: `https://rotator.example/api/${path}`, headers, params });

type Handler = (r: HttpRequest, c: InvocationContext) => Promise<HttpResponseInit>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are inspected loosely
const call = async (h: Handler, r: HttpRequest): Promise<HttpResponseInit & { body: any }> => {
  const res = await h(r, ctx('http'));
  return { ...res, body: res.jsonBody };
};

beforeEach(() => {
  cloud.faults.clear();
  cloud.log.clear();
});

const endpoints: Array<[string, (e: Edge) => Handler, (h: Record<string, string>) => HttpRequest, Role]> = [
  ['POST /api/rotate', rotateHttpHandler, (h) => post({ dryRun: true }, h), ROLES.rotate],
  ['GET /api/scan', scanHttpHandler, (h) => get('scan', h), ROLES.read],
  ['GET /api/runs/{runId}', runsHttpHandler, (h) => get('runs/x', h, { runId: randomUUID() }), ROLES.read],
  ['GET /api/status', statusHttpHandler, (h) => get('status', h), ROLES.read],
];

const badTokens: Array<[string, () => Promise<string>, RegExp]> = [
  [
    'for another audience',
    () => cloud.callerToken({ roles: ALL_ROLES, audience: 'https://graph.microsoft.com' }),
    /audience/,
  ],
  [
    'from another issuer',
    () => cloud.callerToken({ roles: ALL_ROLES, issuer: 'https://login.evil.example/x/v2.0' }),
    /issuer/,
  ],
  ['from another tenant', () => cloud.callerToken({ roles: ALL_ROLES, tenantId: randomUUID() }), /issuer/],
  ['expired', () => cloud.callerToken({ roles: ALL_ROLES, expiresInSeconds: -600 }), /expired/],
  [
    'signed by a stranger',
    () => cloud.callerToken({ roles: ALL_ROLES, signedBy: 'stranger' }),
    /signature|not signed by a key/,
  ],
];

describe.each(endpoints)('%s refuses before any Graph or Key Vault request', (_name, factory, make, role) => {
  const handler = factory(edge());
  it('401 without a token, with a bare Bearer challenge', async () => {
    const res = await call(handler, make({}));
    expect(res).toMatchObject({ status: 401, body: { error: { code: 'missing_token' } } });
    expect((res.headers as Record<string, string>)['www-authenticate']).toBe('Bearer');
    expect(cloudCalls()).toBe(0);
  });

  it.each(badTokens)('401 for a token %s', async (_what, mint, says) => {
    const res = await call(handler, make(bearer(await mint())));
    expect(res).toMatchObject({ status: 401, body: { error: { code: 'invalid_token' } } });
    expect(res.body.error.message).toMatch(says);
    expect((res.headers as Record<string, string>)['www-authenticate']).toMatch(
      /^Bearer error="invalid_token"/,
    );
    expect(cloudCalls()).toBe(0);
  });

  it('403 for a valid token without the role, naming it', async () => {
    const others = ALL_ROLES.filter((r) => r !== role);
    for (const roles of [[], others]) {
      const res = await call(handler, make(bearer(await token(roles))));
      expect(res).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
      expect(res.body.error.message).toContain(role);
    }
    expect(cloudCalls()).toBe(0);
  });

  it('500 with the setting message when API_AUDIENCE is not set', async () => {
    const unset = { ...envEdge({ ...baseEnv, API_AUDIENCE: '' }), clock: cloud.clock };
    const res = await call(factory(unset), make(bearer(await token(ALL_ROLES))));
    expect(res).toMatchObject({ status: 500, body: { error: { code: 'invalid_setting' } } });
    expect(res.body.error.message).toMatch(/^Setting API_AUDIENCE is invalid: not set/);
    expect(cloudCalls()).toBe(0);
  });
});

describe('POST /api/rotate: Rotation.Force for force, all and revokeSuperseded', () => {
  const rotate = rotateHttpHandler(edge());
  it.each<[string, unknown]>([
    ['force', { appIds: [demo.apps.upToDate.appId], force: true }],
    ['all', { all: true, force: true }],
    ['revokeSuperseded', { appIds: [demo.apps.upToDate.appId], force: true, revokeSuperseded: true }],
    ['force in a dry run', { appIds: [demo.apps.upToDate.appId], force: true, dryRun: true }],
  ])('Rotation.Rotate alone asking for %s: 403, no request to Graph or Key Vault', async (_what, body) => {
    const res = await call(rotate, post(body, bearer(await token([ROLES.rotate]))));
    expect(res).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect(res.body.error.message).toContain(ROLES.force);
    expect(cloudCalls()).toBe(0);
  });

  it.each<[string, unknown]>([
    ['all without force', { all: true }],
    ['all with appIds', { all: true, force: true, appIds: [demo.apps.due.appId] }],
    ['revokeSuperseded without force', { appIds: [demo.apps.due.appId], revokeSuperseded: true }],
    ['all as a string', { all: 'true', force: true }],
    ['revokeSuperseded as a number', { all: true, force: true, revokeSuperseded: 1 }],
    ['an unknown field next to all', { all: true, force: true, everything: true }],
  ])('%s: 400 with no change', async (_what, body) => {
    const res = await call(rotate, post(body, bearer(await token(ALL_ROLES))));
    expect(res.status).toBe(400);
    expect(Object.keys(res.body.error).sort()).toEqual(['code', 'message']);
    expect(cloudCalls()).toBe(0);
  });

  it('a Force caller may ask for an emergency dry run of every app', async () => {
    const res = await call(
      rotate,
      post({ all: true, force: true, dryRun: true }, bearer(await token(ALL_ROLES))),
    );
    expect(res.status).toBe(200);
    const report = res.body as Report;
    expect(report.apps.find((a) => a.appId === demo.apps.upToDate.appId)?.action).toBe('would-rotate');
  });
});

describe('the caller is recorded', () => {
  it('in the report, the run log line and the run table', async () => {
    const oid = randomUUID();
    const appId = randomUUID();
    const t = await cloud.callerToken({
      roles: [ROLES.rotate, ROLES.read],
      oid,
      appId,
      name: 'Ann Operator',
    });
    const res = await call(rotateHttpHandler(edge()), post({ appIds: [demo.apps.due.appId] }, bearer(t)));
    expect(res.status).toBe(200);
    const report = res.body as Report;
    expect(report.apps[0]).toMatchObject({ action: 'rotated' });
    expect(report.requestedBy).toEqual({ oid, appId, name: 'Ann Operator' });
    const line = logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.runId === report.runId);
    expect(line).toMatchObject({ event: 'rotation-run', trigger: 'http', requestedBy: { oid, appId } });
    const settings = loadSettings(baseEnv, { requireKeyVault: false });
    const run = await new RunTable(settings.storage!, { getToken: () => Promise.resolve(null) }).getRun(
      report.runId,
    );
    expect(run?.requestedBy).toEqual({ oid, appId, name: 'Ann Operator' });
    const shown = await call(runsHttpHandler(edge()), get('runs/x', bearer(t), { runId: report.runId }));
    expect(shown.body).toMatchObject({ runId: report.runId, requestedBy: { oid } });
  });
});

describe('FORCE_MIN_INTERVAL_MINUTES', () => {
  it('eight forced POSTs: one new credential and one email; the rest skipped until the interval is over', async () => {
    const owner = cloud.tenant.addUser({
      displayName: 'Flo Owner',
      mail: 'flo@contoso.com',
      userPrincipalName: 'flo@contoso.com',
    });
    const app = cloud.tenant.addApplication({
      displayName: 'Flood Target',
      ownerIds: [cloud.rotator.id, owner.id],
      passwords: [
        { startDateTime: new Date(Date.now() - 30 * DAY), endDateTime: new Date(Date.now() + 200 * DAY) },
      ],
    });
    const rotate = rotateHttpHandler(edge());
    const reports: Report[] = [];
    for (let i = 0; i < 8; i++) {
      const t = await token([ROLES.rotate, ROLES.force]);
      const res = await call(rotate, post({ appIds: [app.appId], force: true }, bearer(t)));
      expect(res.status).toBe(200);
      reports.push(res.body as Report);
    }
    const made = () =>
      app.passwordCredentials.filter((p) => (p.displayName ?? '').startsWith(ROTATOR_PREFIX));
    expect(made()).toHaveLength(1);
    expect(app.passwordCredentials).toHaveLength(2);
    expect(cloud.log.count('graph.addPassword')).toBe(1);
    expect(cloud.mail.to('flo@contoso.com')).toHaveLength(1);
    expect(reports[0]!.apps[0]).toMatchObject({ action: 'rotated' });
    for (const r of reports.slice(1)) {
      expect(r.apps[0]).toMatchObject({ action: 'skipped', code: 'force-too-soon' });
      expect(r.apps[0]!.reason).toMatch(/FORCE_MIN_INTERVAL_MINUTES \(60\).*forced again from \d{4}-/);
    }

    // An hour on, the app may be forced again.
    cloud.clock.advance(61 * 60_000);
    const later = await call(
      rotate,
      post({ appIds: [app.appId], force: true }, bearer(await token(ALL_ROLES))),
    );
    expect((later.body as Report).apps[0]).toMatchObject({ action: 'rotated' });
    expect(made().length).toBeGreaterThanOrEqual(2);
  });
});

describe('REMIND_UNMANAGED', () => {
  it('a whole-scope POST sends no tenant-wide reminders; the timer does', async () => {
    const foreign = cloud.tenant.addUser({
      displayName: 'Foreign Owner',
      mail: 'foreign@contoso.com',
      userPrincipalName: 'foreign@contoso.com',
    });
    const now = cloud.clock.now().getTime();
    cloud.tenant.addApplication({
      displayName: 'Unmanaged, Expiring',
      ownerIds: [foreign.id],
      passwords: [{ startDateTime: new Date(now - DAY), endDateTime: new Date(now + 5 * DAY) }],
    });
    const env = { REMIND_UNMANAGED: 'true', HTTP_TIME_BUDGET_SECONDS: '200' };
    const res = await call(rotateHttpHandler(edge(env)), post({}, bearer(await token([ROLES.rotate]))));
    expect(res.status).toBe(200);
    expect(cloud.mail.to('foreign@contoso.com')).toHaveLength(0);

    const timer = { isPastDue: false } as unknown as Timer;
    await rotateTimerHandler(edge({ ...env, ROTATION_INLINE_MAX: '100' }))(timer, ctx('rotateTimer'));
    expect(cloud.mail.to('foreign@contoso.com')).toHaveLength(1);
  });

  it("a whole-scope POST fanned out to workers: the last worker's digest carries no reminders either", async () => {
    const now = cloud.clock.now().getTime();
    const foreign = cloud.tenant.addUser({
      displayName: 'Other Foreign Owner',
      mail: 'foreign2@contoso.com',
      userPrincipalName: 'foreign2@contoso.com',
    });
    cloud.tenant.addApplication({
      displayName: 'Unmanaged, Expiring Too',
      ownerIds: [foreign.id],
      passwords: [{ startDateTime: new Date(now - DAY), endDateTime: new Date(now + 5 * DAY) }],
    });
    const owner = cloud.tenant.addUser({
      displayName: 'Gus',
      mail: 'gus@contoso.com',
      userPrincipalName: 'gus@contoso.com',
    });
    const due = cloud.tenant.addApplication({
      displayName: 'Due For Workers',
      ownerIds: [cloud.rotator.id, owner.id],
      passwords: [{ startDateTime: new Date(now - 100 * DAY), endDateTime: new Date(now + 3 * DAY) }],
    });
    const env = { REMIND_UNMANAGED: 'true', HTTP_TIME_BUDGET_SECONDS: '0' };
    const res = await call(rotateHttpHandler(edge(env)), post({}, bearer(await token([ROLES.rotate]))));
    const report = res.body as Report;
    const queued = report.apps.filter((a) => a.code === 'handed-off').map((a) => a.appId);
    expect(queued).toContain(due.appId);
    await drainRun(report.runId);
    const worker = rotateWorkerHandler(edge(env));
    for (const appId of queued)
      await worker({ runId: report.runId, appId, force: false }, ctx('rotateWorker'));
    expect(cloud.mail.to('gus@contoso.com')).toHaveLength(1); // the digest went out
    expect(cloud.mail.to('foreign2@contoso.com')).toHaveLength(0);
  });
});

/** Takes this run's messages off the shared work queue: this test plays the host's part itself. */
async function drainRun(runId: string): Promise<void> {
  const queue = new QueueClient(storage, WORK_QUEUE);
  for (let empty = 0; empty < 3;) {
    const { receivedMessageItems: items } = await queue.receiveMessages({
      numberOfMessages: 32,
      visibilityTimeout: 1,
    });
    if (items.length === 0) empty++;
    for (const m of items)
      if ((decodeAsHost(m.messageText) as { runId?: string }).runId === runId)
        await queue.deleteMessage(m.messageId, m.popReceipt);
  }
}

describe('apps outside the scope, over HTTP', () => {
  it('a dry run naming an app outside the scope reads like one that does not exist: no display name', async () => {
    const t = bearer(await token([ROLES.rotate]));
    const unknown = randomUUID();
    const res = await call(
      rotateHttpHandler(edge()),
      post({ appIds: [demo.apps.notOwned.appId, unknown], dryRun: true }, t),
    );
    expect(res.status).toBe(200);
    const [outside, missing] = (res.body as Report).apps;
    const shape = {
      displayName: '',
      action: 'failed',
      code: 'not-in-scope',
      reason: 'not found or not in scope',
    };
    expect(outside).toEqual({ appId: demo.apps.notOwned.appId, ...shape });
    expect(missing).toEqual({ appId: unknown, ...shape });
    expect(JSON.stringify(res.body)).not.toContain(demo.apps.notOwned.displayName);
  });
});

describe('forceTooSoon (pure)', () => {
  const now = new Date('2026-12-01T12:00:00Z');
  const cred = (displayName: string | null, minutesAgo: number) => ({
    keyId: randomUUID(),
    displayName,
    startDateTime: new Date(now.getTime() - minutesAgo * 60_000).toISOString(),
    endDateTime: new Date(now.getTime() + 180 * DAY).toISOString(),
  });
  const input = (current: ReturnType<typeof cred>, force = true, minutes = 60) => {
    const app = { id: 'x', appId: randomUUID(), displayName: 'A', tags: [], passwordCredentials: [current] };
    const policy = policyFor(app, {
      ...loadSettings(baseEnv, { requireKeyVault: false }),
      forceMinIntervalMinutes: minutes,
    });
    return { app, policy, vault: undefined, now, force, current };
  };
  it('refuses a forced rotation of a secret the rotator made within the interval, saying when it may be forced', () => {
    expect(forceTooSoon(input(cred(`${ROTATOR_PREFIX} x`, 10)))).toMatchObject({
      action: 'skip',
      code: 'force-too-soon',
      reason: expect.stringContaining('forced again from 2026-12-01T12:50:00.000Z'),
    });
  });
  it.each<[string, ReturnType<typeof input>]>([
    ['not forced', input(cred(`${ROTATOR_PREFIX} x`, 10), false)],
    ["a person's secret", input(cred('made in the portal', 10))],
    ['past the interval', input(cred(`${ROTATOR_PREFIX} x`, 60))],
    ['the interval set to 0', input(cred(`${ROTATOR_PREFIX} x`, 1), true, 0)],
  ])('lets it pass when %s', (_what, i) => {
    expect(forceTooSoon(i)).toBeUndefined();
  });
});
