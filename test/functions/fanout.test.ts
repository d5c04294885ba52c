// Timer → messages really on the Azurite queue → the worker handler → apps rotated, one digest per recipient,
// sent once; duplicates, malformed messages, the poison queue, and the small-scope inline path.
import type { Timer } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { decodeAsHost, encodeWorkMessage, WORK_QUEUE } from '../../src/azure/queue.js';
import { RunTable } from '../../src/azure/runs.js';
import { rotateHttpHandler } from '../../src/functions/rotateHttp.js';
import { rotatePoison } from '../../src/functions/rotatePoison.js';
import { rotateTimer } from '../../src/functions/rotateTimer.js';
import { rotateWorker } from '../../src/functions/rotateWorker.js';
import { fanOut, timeBudget } from '../../src/handoff.js';
import { ROTATOR_PREFIX } from '../../src/rotation/checks.js';
import { runRotation } from '../../src/rotation/engine.js';
import type { Report } from '../../src/rotation/report.js';
import { connect, envEdge, runOnce } from '../../src/run.js';
import { loadSettings } from '../../src/settings.js';
import { freePort } from '../sim/http.js';
import { defaultSecretName } from '../../src/rotation/policy.js';
import { startSimCloud } from '../sim/cloud.js';
import { seedDemoTenant } from '../sim/seed.js';
import { invocation, operatorToken, rotateRequest, takeRun } from './host.js';

const DAY = 86_400_000;
const cloud = await startSimCloud({ graphThrottling: false });
afterAll(() => cloud.stop());
const storage = inject('azuriteConnectionString');
Object.assign(process.env, cloud.env, {
  AzureWebJobsStorage: storage,
  VERIFY_TIMEOUT_SECONDS: '5',
  LOCK_WAIT_SECONDS: '2',
  ROTATION_INLINE_MAX: '2',
  NOTIFY_ALSO: 'secops-all@contoso.com',
});
const envSnapshot = { ...process.env };
const demo = seedDemoTenant(cloud);
const runs = new RunTable(
  { kind: 'connectionString', connectionString: storage },
  { getToken: async () => null },
);
const queue = new QueueClient(storage, WORK_QUEUE);

const logs: Array<{ level: string; line: string }> = [];
const ctx = (functionName: string, triggerMetadata?: Record<string, unknown>) =>
  invocation(functionName, (level, line) => logs.push({ level, line }), triggerMetadata);
const timer: Timer = {
  isPastDue: false,
  schedule: { adjustForDST: true },
  scheduleStatus: { last: '', next: '', lastUpdated: '' },
};
const event = (name: string) =>
  logs.flatMap((l) => {
    try {
      const o = JSON.parse(l.line) as Record<string, unknown>;
      return o.event === name ? [o] : [];
    } catch {
      return [];
    }
  });
const rotatorCreds = (app: { passwordCredentials: Array<{ keyId: string; displayName: string | null }> }) =>
  app.passwordCredentials.filter((p) => (p.displayName ?? '').startsWith(ROTATOR_PREFIX));

beforeEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in envSnapshot)) delete process.env[k];
  Object.assign(process.env, envSnapshot);
  cloud.faults.clear();
});

afterAll(() => {
  const secrets = cloud.issuedSecrets();
  expect(secrets.length).toBeGreaterThan(0);
  for (const s of secrets) for (const l of logs) expect(l.line).not.toContain(s);
});

/**
 * With REMIND_UNMANAGED on: an app outside the scope whose secret expires in 4 days, owned by `foreignMail`, and
 * a due app in scope (owned by alice) that a run limited to it will rotate. Returns the due app.
 */
function reminderCase(foreignMail: string, displayName: string) {
  process.env.REMIND_UNMANAGED = 'true';
  const foreignOwner = cloud.tenant.addUser({ displayName: 'Foreign Owner', mail: foreignMail });
  cloud.tenant.addApplication({
    displayName: `Unmanaged, Expiring (${foreignMail})`,
    ownerIds: [foreignOwner.id],
    passwords: [{ startDateTime: new Date(Date.now() - DAY), endDateTime: new Date(Date.now() + 4 * DAY) }],
  });
  return cloud.tenant.addApplication({
    displayName,
    ownerIds: [cloud.rotator.id, demo.users.alice.id],
    passwords: [
      { startDateTime: new Date(Date.now() - 300 * DAY), endDateTime: new Date(Date.now() + 2 * DAY) },
    ],
  });
}

let runId = '';
let messages: unknown[] = [];
// The personal-account app is due too, but the scan already knows its two-secret limit leaves no room (a dry run
// reports what the real run would): it is reported failed at once and never queued.
const due = [demo.apps.due, demo.apps.expired, demo.apps.customName, demo.apps.hostile];

describe('timer fan-out', () => {
  it('scans, queues one base64 message per due app and records the run, changing none of them', async () => {
    await rotateTimer(timer, ctx('rotateTimer'));
    const [summary] = event('rotation-run');
    expect(summary).toMatchObject({ scanned: 11, due: 4, queued: 4, rotatedInline: 0, failed: 1 });
    runId = summary!.runId as string;
    for (const a of due) expect(rotatorCreds(a)).toHaveLength(0);
    expect(cloud.log.count('graph.addPassword')).toBe(0);
    expect(cloud.mail.messages).toHaveLength(0);

    const run = await runs.getRun(runId);
    expect(run).toMatchObject({ trigger: 'timer', queued: 4, scanned: 11 });
    expect(run?.digestSentAt).toBeUndefined();

    messages = await takeRun(queue, runId, 4);
    expect(messages.map((m) => (m as { appId: string }).appId).sort()).toEqual(
      due.map((a) => a.appId).sort(),
    );
    expect(messages[0]).toEqual({ runId, appId: expect.any(String), force: false });
  });

  it('workers rotate their apps (in parallel), and the last one sends each recipient one digest', async () => {
    await Promise.all(messages.map((m) => rotateWorker(m, ctx('rotateWorker'))));
    for (const a of [demo.apps.due, demo.apps.expired, demo.apps.hostile]) {
      expect(rotatorCreds(a)).toHaveLength(1);
      expect(cloud.vault.latest(defaultSecretName(a.appId))?.tags?.keyId).toBe(rotatorCreds(a)[0]!.keyId);
    }
    // The personal-account app has two passwords, both a person's: reported failed, nothing added.
    expect(rotatorCreds(demo.apps.personal)).toHaveLength(0);
    expect(cloud.vault.latest('payroll-api-client-secret')?.tags?.keyId).toBe(
      rotatorCreds(demo.apps.customName)[0]!.keyId,
    );

    const rows = await runs.listApps(runId);
    expect(rows).toHaveLength(5);
    const byApp = new Map(rows.map((r) => [r.appId, r.report]));
    expect(byApp.get(demo.apps.due.appId)?.action).toBe('rotated');
    expect(byApp.get(demo.apps.personal.appId)?.action).toBe('failed');
    const stored = JSON.stringify(rows);
    expect(stored).not.toMatch(/secretText/);
    for (const secret of cloud.issuedSecrets()) expect(stored).not.toContain(secret);

    // One message per recipient for the whole run, however many workers raced to finish it.
    const recipients = cloud.mail.messages.flatMap((m) => m.to.map((t) => t.toLowerCase()));
    expect(recipients.length).toBeGreaterThan(0);
    expect(new Set(recipients).size).toBe(recipients.length);
    expect(recipients).toEqual(
      expect.arrayContaining([
        'alice@contoso.com',
        'bob@contoso.com',
        'secops@contoso.com',
        'secops-all@contoso.com',
      ]),
    );
    const all = cloud.mail.to('secops-all@contoso.com');
    expect(all).toHaveLength(1);
    expect(all[0]!.plainText).toContain(demo.apps.due.appId);
    expect(all[0]!.plainText).toContain(demo.apps.personal.appId);
    expect((await runs.getRun(runId))?.digestSentAt).toBeTruthy();
    expect(logs.filter((l) => l.line.includes('"msg":"run complete"'))).toHaveLength(1);
  });

  it('a duplicate delivery changes nothing and sends nothing again', async () => {
    const adds = cloud.log.count('graph.addPassword');
    const mails = cloud.mail.messages.length;
    const dup = messages.find((m) => (m as { appId: string }).appId === demo.apps.due.appId)!;
    await rotateWorker(dup, ctx('rotateWorker'));
    // Also as the raw string the host may hand over for a non-JSON-typed message.
    await rotateWorker(JSON.stringify(dup), ctx('rotateWorker'));
    expect(cloud.log.count('graph.addPassword')).toBe(adds);
    expect(cloud.mail.messages.length).toBe(mails);
    expect(rotatorCreds(demo.apps.due)).toHaveLength(1);
    expect((await runs.getApp(runId, demo.apps.due.appId))?.report.action).toBe('rotated');
  });

  it('a later result never hides the rotation recorded for the run', async () => {
    const row = await runs.recordApp(runId, 'worker', {
      appId: demo.apps.due.appId,
      displayName: 'x',
      action: 'up-to-date',
    });
    expect(row.report.action).toBe('rotated');
  });
});

describe('bad messages', () => {
  it.each([
    ['not JSON', 'rotate everything please'],
    ['a number', 42],
    ['null', null],
    ['an array', [1, 2]],
    ['no appId', { runId: 'r1' }],
    ['a non-GUID appId', { runId: 'r1', appId: 'payroll' }],
    ['a malformed runId', { runId: "r1' or 1 eq 1", appId: randomUUID() }],
    ['force not a boolean', { runId: 'r1', appId: randomUUID(), force: 'yes' }],
    ['bytes of not JSON', Buffer.from([0xff, 0x00])],
  ])('%s: logged and dropped, no retry', async (_name, item) => {
    const before = cloud.log.entries.length;
    await expect(rotateWorker(item, ctx('rotateWorker'))).resolves.toBeUndefined();
    await expect(rotatePoison(item, ctx('rotatePoison'))).resolves.toBeUndefined();
    expect(cloud.log.entries.length).toBe(before);
    expect(logs.at(-1)?.level).toBe('warning');
  });

  it('an infrastructure failure throws so that the host retries, with one line and no secret', async () => {
    process.env.KEY_VAULT_URL = 'http://not-https.example';
    const m = { runId: randomUUID(), appId: demo.apps.upToDate.appId, force: false };
    await expect(rotateWorker(m, ctx('rotateWorker'))).rejects.toThrow(/KEY_VAULT_URL/);
    expect(logs.at(-1)).toMatchObject({ level: 'error' });
  });
});

describe('a message without its run', () => {
  it('rotates the app and tells its owners at once, since no run will send a digest', async () => {
    const app = cloud.tenant.addApplication({
      displayName: 'Hand Queued App',
      ownerIds: [cloud.rotator.id, demo.users.alice.id],
      passwords: [
        {
          displayName: 'portal',
          startDateTime: new Date(Date.now() - 300 * DAY),
          endDateTime: new Date(Date.now() + 2 * DAY),
        },
      ],
    });
    const before = cloud.mail.to('alice@contoso.com').length;
    await rotateWorker({ runId: randomUUID(), appId: app.appId }, ctx('rotateWorker'));
    expect(rotatorCreds(app)).toHaveLength(1);
    const alice = cloud.mail.to('alice@contoso.com');
    expect(alice).toHaveLength(before + 1);
    expect(alice.at(-1)!.plainText).toContain(app.appId);
  });

  it('a one-app worker run sends no REMIND_UNMANAGED reminders (only whole-scope runs do)', async () => {
    const app = reminderCase('foreign.worker@contoso.com', 'Queued Without Run');
    await rotateWorker({ runId: randomUUID(), appId: app.appId }, ctx('rotateWorker'));
    expect(rotatorCreds(app)).toHaveLength(1);
    expect(cloud.mail.to('foreign.worker@contoso.com')).toHaveLength(0);
  });
});

describe('a run over listed apps handed to workers', () => {
  it('sends no REMIND_UNMANAGED reminders when its last worker completes it (only whole-scope runs do)', async () => {
    const app = reminderCase('foreign.fanout@contoso.com', 'Handed To A Worker');
    const settings = loadSettings(process.env, { requireKeyVault: true });
    const runId = randomUUID();
    const message = { runId, appId: app.appId.toLowerCase(), force: false };
    // As POST /api/rotate with appIds does once its time budget is spent: the app is handed to the queue.
    const deps = await connect(settings, () => undefined);
    const { queued } = await runOnce(deps, 'http', timeBudget(0), {
      mode: 'rotate',
      appIds: [app.appId],
      runId,
    });
    expect(queued).toBe(1);
    await queue.clearMessages(); // the test plays the worker itself
    await rotateWorker(message, ctx('rotateWorker'));
    expect(rotatorCreds(app)).toHaveLength(1);
    expect((await runs.getRun(runId))?.digestSentAt).toBeTruthy();
    expect(cloud.mail.to('foreign.fanout@contoso.com')).toHaveLength(0);
  });
});

describe('an emergency over HTTP (all + force)', () => {
  it('hands every app to the queue workers at once: the call itself rotates none, the workers rotate them', async () => {
    const adds = cloud.log.count('graph.addPassword');
    const body = JSON.stringify({ all: true, force: true });
    const res = await rotateHttpHandler(envEdge(process.env))(
      rotateRequest(body, await operatorToken(cloud)),
      ctx('rotate'),
    );
    expect(res.status).toBe(200);
    const report = res.jsonBody as Report;
    const queued = report.apps.filter((a) => a.reason?.startsWith('queued for a worker'));
    expect(queued.length).toBeGreaterThan(1);
    expect(report.summary.rotated).toBe(0);
    expect(cloud.log.count('graph.addPassword')).toBe(adds);
    const messages = await takeRun(queue, report.runId, queued.length);
    expect(messages).toHaveLength(queued.length);
    // The last worker alone reads the run's rows (each reading them all made a large run quadratic).
    const listed = vi.spyOn(RunTable.prototype, 'listApps');
    for (const m of messages) await rotateWorker(m, ctx('rotateWorker'));
    expect(listed).toHaveBeenCalledTimes(1);
    listed.mockRestore();
    const run = await runs.getRun(report.runId);
    expect(run?.digestSentAt).toBeTruthy();
    expect(run?.completed).toBe(queued.length);
    const rows = await runs.listApps(report.runId);
    expect(rows.filter((r) => r.source === 'worker' && r.report.action === 'rotated')).toHaveLength(
      queued.length,
    );
  });
});

describe('queue unreachable at fan-out', () => {
  it('the owners of apps changed inline are still told, and the invocation fails', async () => {
    const app = cloud.tenant.addApplication({
      displayName: 'Inline Before Outage',
      ownerIds: [cloud.rotator.id, demo.users.dave.id],
      passwords: [
        {
          displayName: 'portal',
          startDateTime: new Date(Date.now() - 300 * DAY),
          endDateTime: new Date(Date.now() + 2 * DAY),
        },
      ],
    });
    const port = await freePort(); // nothing listens there
    const settings = loadSettings(
      {
        ...process.env,
        AzureWebJobsStorage: storage.replace(
          /QueueEndpoint=[^;]+/,
          `QueueEndpoint=http://127.0.0.1:${port}/devstoreaccount1`,
        ),
      },
      { requireKeyVault: true },
    );
    const deps = await connect(settings, () => undefined);
    const ctx = {
      ...deps,
      runId: randomUUID(),
      dryRun: false,
      force: false,
      vaultIndex: Promise.resolve(undefined),
      secretClaims: new Map(),
    };
    const result = await runRotation(ctx, { appIds: [app.appId] });
    expect(result.report.apps[0]?.action).toBe('rotated');
    const before = cloud.mail.to('dave@contoso.onmicrosoft.com').length;
    const queued = [{ runId: result.report.runId, appId: randomUUID(), force: false }];
    await expect(fanOut(deps, 'timer', result, queued)).rejects.toThrow();
    expect(cloud.mail.to('dave@contoso.onmicrosoft.com')).toHaveLength(before + 1);
  });
});

describe('poison queue', () => {
  it('records the app as failed in its run, completes the run and tells the owners', async () => {
    const poisonRun = randomUUID();
    const app = cloud.tenant.addApplication({
      displayName: 'Poisoned Service',
      ownerIds: [cloud.rotator.id, demo.users.carol.id],
      passwords: [
        {
          displayName: 'portal',
          startDateTime: new Date(Date.now() - 300 * DAY),
          endDateTime: new Date(Date.now() + 3 * DAY),
        },
      ],
    });
    await runs.createRun({
      runId: poisonRun,
      trigger: 'timer',
      wholeScope: true,
      startedAt: new Date().toISOString(),
      scanned: 1,
      queued: 1,
      rotatedInline: 0,
      failedInline: 0,
    });
    await runs.recordQueued(poisonRun, [app.appId]);
    const carolBefore = cloud.mail.to('carol.okafor@contoso.com').length;
    const item = decodeAsHost(encodeWorkMessage({ runId: poisonRun, appId: app.appId, force: false }));
    await rotatePoison(item, ctx('rotatePoison', { dequeueCount: 5 }));
    const row = await runs.getApp(poisonRun, app.appId);
    expect(row?.report).toMatchObject({
      action: 'failed',
      displayName: 'Poisoned Service',
      reason: expect.stringMatching(/failed on this app 5 times/),
    });
    expect(row?.source).toBe('poison');
    expect((await runs.getRun(poisonRun))?.digestSentAt).toBeTruthy();
    const carol = cloud.mail.to('carol.okafor@contoso.com');
    expect(carol.length).toBe(carolBefore + 1);
    expect(carol.at(-1)!.plainText).toContain(app.appId);
    expect(rotatorCreds(app)).toHaveLength(0);
  });
});

describe('timer, small scope', () => {
  it('rotates up to ROTATION_INLINE_MAX due apps itself and emails at once; nothing is queued', async () => {
    process.env.ROTATION_INLINE_MAX = '10';
    const app = cloud.tenant.addApplication({
      displayName: 'Small Run App',
      ownerIds: [cloud.rotator.id, demo.users.bob.id],
      passwords: [
        {
          displayName: 'portal',
          startDateTime: new Date(Date.now() - 300 * DAY),
          endDateTime: new Date(Date.now() + 4 * DAY),
        },
      ],
    });
    const bobBefore = cloud.mail.to('bob@contoso.com').length;
    const before = event('rotation-run').length;
    await rotateTimer(timer, ctx('rotateTimer'));
    const summary = event('rotation-run')[before]!;
    // This app and the poisoned one (still due) are rotated here; the personal-account app fails again.
    expect(summary).toMatchObject({ due: 2, queued: 0, rotatedInline: 2, failed: 1 });
    expect(rotatorCreds(app)).toHaveLength(1);
    expect(cloud.mail.to('bob@contoso.com').length).toBe(bobBefore + 1);
    const run = await runs.getRun(summary.runId as string);
    expect(run).toMatchObject({ queued: 0, rotatedInline: 2, failedInline: 1 });
    expect(run?.digestSentAt).toBeTruthy();
    const { peekedMessageItems } = await queue.peekMessages({ numberOfMessages: 32 });
    expect(
      peekedMessageItems.map((m) => (decodeAsHost(m.messageText) as { runId: string }).runId),
    ).not.toContain(summary.runId);
  });
});
