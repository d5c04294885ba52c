// Owner notifications end to end on the simulated cloud: real rotations of the demo tenant through runOnce
// (and the CLI), mail read back from the simulated ACS, held notices read back from the simulated Key Vault.
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { AppLocks } from '../../src/azure/locks.js';
import { main } from '../../src/cli.js';
import { NOTIFICATIONS_OFF_NOTE, notifyOwners } from '../../src/notify/notify.js';
import { decodePending, PENDING_SECRET_NAME, pendingLockName } from '../../src/notify/pending.js';
import { inline } from '../../src/handoff.js';
import { connect, createServices, runOnce, type RunRequest } from '../../src/run.js';
import { loadSettings } from '../../src/settings.js';
import type { MailMessage } from '../sim/acs.js';
import { acsConnectionString, startSimCloud } from '../sim/cloud.js';
import { seedDemoTenant, type DemoTenant } from '../sim/seed.js';
import type { SimApplication } from '../sim/tenant.js';

const cloud = await startSimCloud({ graphThrottling: false });
afterAll(() => cloud.stop());
Object.assign(process.env, cloud.env);
const storage = inject('azuriteConnectionString');

const DAY = 86_400_000;
const SECURITY = 'security@contoso.com';

function envFor(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    ...cloud.env,
    VERIFY_TIMEOUT_SECONDS: '5',
    LOCK_WAIT_SECONDS: '2',
    AzureWebJobsStorage: storage,
    NOTIFY_ALSO: SECURITY,
    ...extra,
  };
}

async function run(extra: Record<string, string | undefined> = {}, opts: Partial<RunRequest> = {}) {
  const settings = loadSettings(envFor(extra), { requireKeyVault: true });
  const deps = await connect(settings, () => undefined);
  const request = { mode: 'rotate' as const, ...opts, mailer: { pollIntervalMs: 10 } };
  return (await runOnce(deps, 'cli', inline, request)).result!;
}

const delivered = () => cloud.mail.messages.filter((m) => !m.dropped);
const recipients = (list: MailMessage[] = delivered()) =>
  list.flatMap((m) => m.to.map((a) => a.toLowerCase())).sort();
const one = (address: string): MailMessage => {
  const list = cloud.mail.to(address);
  expect(list, `messages to ${address}`).toHaveLength(1);
  return list[0]!;
};
const pendingValue = () => cloud.vault.latest(PENDING_SECRET_NAME)?.value;
const pendingItems = () => decodePending(pendingValue() ?? '{"items":[]}').items;

let demo: DemoTenant;
beforeEach(() => {
  cloud.tenant.applications.clear();
  cloud.tenant.users.clear();
  for (const n of [...cloud.vault.names(), ...cloud.vault.deletedNames()]) cloud.vault.purge(n);
  cloud.mail.clear();
  cloud.mail.dropRecipients.clear();
  cloud.mail.messagesPerMinute = undefined;
  cloud.mail.messagesPerHour = undefined;
  cloud.faults.clear();
  cloud.log.clear();
  demo = seedDemoTenant(cloud);
});

/** Every message part, for leak and escaping checks. */
const parts = (m: MailMessage) => [m.subject, m.plainText ?? '', m.html ?? ''];

function expectNoSecretIn(messages: MailMessage[]) {
  const secrets = cloud.issuedSecrets().filter((s) => s.length >= 8);
  expect(secrets.length).toBeGreaterThan(0);
  for (const m of messages)
    for (const p of parts(m)) for (const s of secrets) expect(p.includes(s)).toBe(false);
}

function addUnowned(
  displayName: string,
  owner: string,
  opts: Partial<Parameters<typeof cloud.tenant.addApplication>[0]>,
) {
  return cloud.tenant.addApplication({ displayName, ownerIds: [owner], ...opts });
}
const at = (days: number) => new Date(Date.now() + days * DAY);

describe('digests of a rotation run', () => {
  it('sends exactly one message to each recipient of the demo tenant, with every field and no secret', async () => {
    const { report } = await run();
    const byId = (app: SimApplication) => report.apps.find((a) => a.appId === app.appId)!;
    expect(byId(demo.apps.due).action).toBe('rotated');
    expect(byId(demo.apps.personal).action).toBe('failed');

    // Owners with mail, dave by his address-shaped UPN, the tag recipient and NOTIFY_ALSO; erin has no address,
    // carol is told about the failure, bob's notOwned app is out of scope.
    expect(recipients()).toEqual(
      [
        'alice@contoso.com',
        'bob@contoso.com',
        'carol.okafor@contoso.com',
        'dave@contoso.onmicrosoft.com',
        'secops@contoso.com',
        SECURITY,
      ].sort(),
    );
    for (const m of delivered()) expect(m.to).toHaveLength(1);
    expect(new Set(recipients()).size).toBe(delivered().length);

    const due = byId(demo.apps.due);
    const alice = one('alice@contoso.com');
    // The HTML part as read: the break hints that keep identifiers whole (<wbr>, nowrap spans) are not text.
    const readable = alice.html!.replace(/<wbr>|<span style="white-space:nowrap;">|<\/span>/g, '');
    for (const text of [alice.plainText!, readable]) {
      expect(text).toContain('Contoso Intranet');
      expect(text).toContain(demo.apps.due.appId);
      expect(text).toContain(due.keyId!);
      expect(text).toContain(due.secretUri!);
      expect(text).toContain(`${due.expiresOn!.slice(0, 10)} `);
      expect(text).toContain('Payroll API'); // alice owns it too: one digest, both apps
    }
    expect(alice.subject).toBe('Entra app secrets: 2 client secrets rotated');
    expect(due.notified?.map((a) => a.toLowerCase()).sort()).toEqual(
      ['alice@contoso.com', 'bob@contoso.com', SECURITY].sort(),
    );

    const carol = one('carol.okafor@contoso.com');
    expect(carol.subject).toBe('Entra app secrets: rotation failed for "Contoso Rewards App"');
    expect(carol.plainText).toContain(byId(demo.apps.personal).reason!.slice(0, 40));

    const dave = one('dave@contoso.onmicrosoft.com');
    expect(dave.html).toContain('&#60;img src=x onerror=alert(1)&#62; Legacy &#34;CRM&#34; &#38; Co');
    expect(dave.html).not.toMatch(/<img/i);

    expect(one(SECURITY).subject).toBe('Entra app secrets: 4 client secrets rotated, 1 failed');
    expectNoSecretIn(cloud.mail.messages);
    expect(report.notes).toBeUndefined();
    expect(pendingValue()).toBeUndefined(); // nothing failed: nothing written
  });

  it('tells when the superseded rotator-made secret will be removed', async () => {
    await run();
    cloud.mail.clear();
    // Forced again at once: FORCE_MIN_INTERVAL_MINUTES=0 lifts the guard against repeated forced rotations.
    const again = { FORCE_MIN_INTERVAL_MINUTES: '0' };
    const { report } = await run(again, { appIds: [demo.apps.due.appId], force: true });
    const r = report.apps[0]!;
    expect(r.action).toBe('rotated');
    const retires = new Date(Date.now() + 7 * DAY).toISOString().slice(0, 10);
    const text = one('bob@contoso.com').plainText!;
    expect(text).toContain(`Old secret removed: ${retires}`);
    expect(recipients()).toEqual(['alice@contoso.com', 'bob@contoso.com', SECURITY].sort());
  });

  it('sends with an ACS connection string (HMAC) when that is what is configured', async () => {
    await run({ ACS_ENDPOINT: undefined, ACS_CONNECTION_STRING: acsConnectionString(cloud) });
    expect(delivered()).toHaveLength(6);
    for (const m of delivered()) expect(m.auth).toBe('hmac');
  });

  it('absorbs a burst of 429s from ACS within the wait budget', async () => {
    cloud.faults.fail('acs.send', 429, 3, { retryAfterSeconds: 1 });
    const { report } = await run();
    expect(cloud.log.count('acs.send')).toBeGreaterThanOrEqual(9); // 3 throttled + 6 accepted
    expect(new Set(recipients()).size).toBe(6);
    expect(delivered()).toHaveLength(6);
    expect(report.notes).toBeUndefined();
    expect(pendingValue()).toBeUndefined();
  });
});

describe('held notices', () => {
  it('holds what ACS would not take, sends it once with the next run’s news, and not again', async () => {
    // ACS on a managed domain over its hourly limit: far longer than a run may wait.
    const hourly = cloud.faults.fail('acs.send', 429, undefined, { retryAfterSeconds: 3600 });
    const first = await run();
    expect(delivered()).toHaveLength(0);
    expect(first.report.apps.every((a) => !a.notified)).toBe(true);
    expect(first.report.notes).toHaveLength(1);
    expect(first.report.notes![0]).toMatch(
      /^6 of 6 emails were not sent .*held in Key Vault and sent by the next run$/,
    );
    const stored = cloud.vault.latest(PENDING_SECRET_NAME)!;
    expect(stored.tags).toEqual({ purpose: 'pending-notifications' });
    const inflated = JSON.stringify(decodePending(stored.value)); // the value is gzipped (v2): look inside
    for (const s of cloud.tenant.issuedSecrets)
      expect(inflated.includes(s) || stored.value.includes(s)).toBe(false);
    const held = pendingItems();
    // Everything that changed: four rotations and the failure, each with the recipients it still owes.
    expect(held.map((i) => i.displayName).sort()).toEqual(
      [
        'Contoso Intranet',
        'Contoso Rewards App',
        'Expense Reports',
        'Payroll API',
        demo.apps.hostile.displayName,
      ].sort(),
    );
    const intranet = held.find((i) => i.appId === demo.apps.due.appId)!;
    expect(intranet.to.map((a) => a.toLowerCase()).sort()).toEqual(
      ['alice@contoso.com', 'bob@contoso.com', SECURITY].sort(),
    );
    expect(intranet.keyId).toBe(first.report.apps.find((a) => a.appId === demo.apps.due.appId)!.keyId);

    // The next run has news for alice too: she gets one message with the old and the new.
    cloud.faults.remove(hourly);
    const fresh = cloud.tenant.addApplication({
      displayName: 'Fresh Due App',
      ownerIds: [cloud.rotator.id, demo.users.alice.id],
      passwords: [{ displayName: 'portal', startDateTime: at(-100), endDateTime: at(3) }],
    });
    const second = await run();
    expect(second.report.apps.find((a) => a.appId === fresh.appId)!.action).toBe('rotated');
    expect(new Set(recipients()).size).toBe(delivered().length); // one per recipient
    expect(recipients()).toEqual(
      [
        'alice@contoso.com',
        'bob@contoso.com',
        'carol.okafor@contoso.com',
        'dave@contoso.onmicrosoft.com',
        'secops@contoso.com',
        SECURITY,
      ].sort(),
    );
    const alice = one('alice@contoso.com');
    expect(alice.subject).toBe('Entra app secrets: 3 client secrets rotated');
    expect(alice.plainText).toContain('Fresh Due App');
    expect(alice.plainText).toContain('Contoso Intranet');
    expect(alice.plainText).toContain(intranet.keyId!);
    expect(alice.plainText).toContain('Delayed notice: from the run of');
    expect(one('bob@contoso.com').plainText).toContain('Delayed notice');
    // The rewards app failed again: today's failure replaces the held one instead of being told twice.
    const carol = one('carol.okafor@contoso.com');
    expect(carol.subject).toBe('Entra app secrets: rotation failed for "Contoso Rewards App"');
    expect(carol.plainText).not.toContain('Delayed notice');
    expect(second.report.notes).toBeUndefined();
    expect(pendingItems()).toEqual([]);
    expectNoSecretIn(cloud.mail.messages);

    // A third run: only the failure that repeats every run, nothing held; the store is not rewritten.
    const versions = cloud.vault.versions(PENDING_SECRET_NAME).length;
    cloud.mail.clear();
    await run();
    expect(recipients()).toEqual(['carol.okafor@contoso.com', SECURITY].sort());
    for (const m of delivered()) {
      expect(m.subject).toBe('Entra app secrets: rotation failed for "Contoso Rewards App"');
      expect(m.plainText).not.toContain('Delayed notice');
    }
    expect(cloud.vault.versions(PENDING_SECRET_NAME)).toHaveLength(versions);
  });

  it('holds only the recipient whose message failed; the others are not mailed twice', async () => {
    cloud.mail.dropRecipients.add('bob@contoso.com');
    const first = await run();
    expect(first.report.notes?.[0]).toMatch(
      /^1 of 6 emails were not sent \(bob@contoso\.com: ACS did not deliver/,
    );
    const held = pendingItems();
    expect(held.map((i) => i.to)).toEqual([['bob@contoso.com'], ['bob@contoso.com']]);
    expect(held.map((i) => i.appId).sort()).toEqual([demo.apps.due.appId, demo.apps.expired.appId].sort());

    cloud.mail.clear();
    cloud.mail.dropRecipients.clear();
    const second = await run();
    // bob gets what he missed; the others only the failure that repeats every run.
    expect(recipients()).toEqual(['bob@contoso.com', 'carol.okafor@contoso.com', SECURITY].sort());
    expect(one('bob@contoso.com').subject).toBe('Entra app secrets: 2 client secrets rotated');
    expect(one(SECURITY).subject).toBe('Entra app secrets: rotation failed for "Contoso Rewards App"');
    expect(second.report.notes).toBeUndefined();
    expect(pendingItems()).toEqual([]);
  });

  it('does not touch the held notices while another run holds their lock', async () => {
    const settings = loadSettings(envFor(), { requireKeyVault: true });
    const other = await new AppLocks(settings.storage!, createServices(settings).credential).acquire(
      pendingLockName(settings.keyVaultUrl!),
      0,
    );
    expect(other).toBeDefined();
    try {
      cloud.mail.dropRecipients.add('alice@contoso.com');
      const { report } = await run({ LOCK_WAIT_SECONDS: '1' });
      expect(report.notes).toHaveLength(1);
      expect(report.notes![0]).toMatch(
        /alice@contoso\.com.*could not be held for the next run \(another run was updating/,
      );
      expect(cloud.log.countServed('keyvault.getSecret')).toBe(0);
      expect(pendingValue()).toBeUndefined();
      expect(delivered()).toHaveLength(5);
    } finally {
      await other?.release();
    }
  });

  it("is not held up by the lock of another vault's notices in the same storage account", async () => {
    const settings = loadSettings(envFor(), { requireKeyVault: true });
    const locks = new AppLocks(settings.storage!, createServices(settings).credential);
    const other = await locks.acquire(pendingLockName('https://another-rotator.vault.azure.net/'), 0);
    expect(other).toBeDefined();
    try {
      cloud.mail.dropRecipients.add('alice@contoso.com');
      const { report } = await run({ LOCK_WAIT_SECONDS: '1' });
      expect(report.notes ?? []).not.toContainEqual(expect.stringMatching(/another run was updating/));
      expect(pendingItems().map((i) => i.to)).toContainEqual(['alice@contoso.com']);
    } finally {
      await other?.release();
      cloud.mail.dropRecipients.clear();
      cloud.mail.clear();
      await run(); // sends what was held, so the next test starts with none
    }
  });

  it('leaves held notices alone when Key Vault will not give them, and says so', async () => {
    const seeded = JSON.stringify({
      v: 1,
      items: [
        {
          appId: demo.apps.upToDate.appId,
          displayName: 'HR Portal',
          action: 'failed',
          reason: 'an earlier failure',
          queuedAt: at(-1).toISOString(),
          runId: 'earlier-run',
          to: ['carol.okafor@contoso.com'],
        },
      ],
    });
    cloud.vault.seed(PENDING_SECRET_NAME, seeded, { tags: { purpose: 'pending-notifications' } });
    cloud.faults.fail('keyvault.getSecret', 403);
    cloud.mail.dropRecipients.add('alice@contoso.com');
    const { report } = await run();
    expect(report.summary.rotated).toBe(4); // a notification problem never touches the rotations
    expect(report.notes).toHaveLength(2);
    expect(report.notes![0]).toMatch(/^the pending notifications could not be read from Key Vault: 403/);
    expect(report.notes![1]).toMatch(/alice@contoso\.com.*could not be held for the next run/);
    expect(pendingValue()).toBe(seeded); // not overwritten
    expect(cloud.mail.to('carol.okafor@contoso.com')[0]!.plainText).not.toContain('HR Portal');

    // Readable again: the held notice goes out with nothing else new.
    cloud.faults.clear();
    cloud.mail.clear();
    cloud.mail.dropRecipients.clear();
    await run();
    expect(recipients()).toEqual(['carol.okafor@contoso.com', SECURITY].sort());
    const carol = one('carol.okafor@contoso.com');
    expect(carol.subject).toBe('Entra app secrets: 2 rotations failed'); // HR Portal (held) and the rewards app
    expect(carol.plainText).toContain('an earlier failure');
    expect(one(SECURITY).plainText).not.toContain('HR Portal');
    expect(pendingItems()).toEqual([]);
  });
});

describe('reminders for apps outside the rotation scope (REMIND_UNMANAGED)', () => {
  function seedUnmanaged() {
    const { bob, carol, dave } = demo.users;
    return {
      secretSoon: addUnowned('Partner Portal', bob.id, {
        passwords: [{ displayName: 'partner key', startDateTime: at(-200), endDateTime: at(5.1) }],
      }),
      certSoon: addUnowned('Signing Service', carol.id, {
        certificates: [{ displayName: 'CN=signing', startDateTime: at(-300), endDateTime: at(12) }],
      }),
      renewed: addUnowned('Renewed Already', dave.id, {
        passwords: [
          { displayName: 'old', startDateTime: at(-300), endDateTime: at(4) },
          { displayName: 'new', startDateTime: at(-1), endDateTime: at(300) },
        ],
      }),
      longExpired: addUnowned('Abandoned', dave.id, {
        passwords: [{ displayName: 'old', startDateTime: at(-500), endDateTime: at(-100) }],
      }),
    };
  }

  it('reminds the owners of an unowned app whose secret expires in 5 days, in the same digest', async () => {
    const u = seedUnmanaged();
    const { report } = await run({ REMIND_UNMANAGED: 'true' });
    expect(report.apps.some((a) => a.appId === u.secretSoon.appId)).toBe(false); // not in scope, not reported
    const bob = one('bob@contoso.com');
    expect(bob.subject).toBe('Entra app secrets: 2 client secrets rotated, 2 apps with expiring credentials'); // Marketing Site (demo, not owned, 9 days) and Partner Portal
    expect(bob.plainText).toContain('Partner Portal');
    expect(bob.plainText).toContain(u.secretSoon.passwordCredentials[0]!.keyId);
    expect(bob.plainText).toContain('(in 5 days)');
    const carol = one('carol.okafor@contoso.com');
    expect(carol.plainText).toContain('Signing Service');
    expect(carol.plainText).toContain('Certificate "CN=signing"');
    const dave = one('dave@contoso.onmicrosoft.com');
    expect(dave.plainText).not.toContain('Renewed Already');
    expect(dave.plainText).not.toContain('Abandoned');
    // In-scope apps are never reminded, even the skipped ones.
    expect(one(SECURITY).plainText).not.toContain('Legacy Fax Gateway');
    expect(cloud.log.count('graph.listApplications')).toBeGreaterThan(0);
  });

  it('works out the scope itself: a partial report (a fanned-out run) does not make in-scope apps reminded', async () => {
    seedUnmanaged();
    const settings = loadSettings(envFor({ REMIND_UNMANAGED: 'true' }), { requireKeyVault: true });
    const deps = await connect(settings, () => {});
    const { report } = (await runOnce(deps, 'cli', inline, { mode: 'scan' })).result!;
    const notes = await notifyOwners(deps, { ...report, apps: [], dryRun: false }, [], {
      mailer: { pollIntervalMs: 10 },
    });
    expect(notes).toEqual([]);
    const reminded = delivered().flatMap((m) => m.plainText!.split('\n').filter((l) => /^[A-Z]/.test(l)));
    expect(one(SECURITY).subject).toBe('Entra app secrets: 3 apps with expiring credentials');
    expect(reminded).not.toContain('Legacy Fax Gateway'); // owned, disabled, due: in scope
    expect(reminded).toContain('Marketing Site');
  });

  it('sends no reminder when REMIND_UNMANAGED is off, or on a run limited with --app', async () => {
    seedUnmanaged();
    await run({ REMIND_UNMANAGED: 'false' });
    expect(one('bob@contoso.com').plainText).not.toContain('Partner Portal');
    expect(cloud.log.count('graph.listApplications')).toBe(0);

    cloud.mail.clear();
    await run({ REMIND_UNMANAGED: 'true' }, { appIds: [demo.apps.upToDate.appId], force: true });
    expect(recipients()).toEqual(['carol.okafor@contoso.com', SECURITY].sort());
    for (const m of delivered())
      expect(m.subject).toBe('Entra app secrets: client secret rotated for "HR Portal"');
  });
});

describe('the CLI says once what an operator must know', () => {
  const io = () => {
    const out = { stdout: '', stderr: '' };
    return {
      out,
      io: {
        stdout: { write: (s: string) => (out.stdout += s) },
        stderr: { write: (s: string) => (out.stderr += s) },
      },
    };
  };
  const count = (haystack: string, needle: string) => haystack.split(needle).length - 1;

  it('notifications off: one note in the table, none repeated on stderr, no mail', async () => {
    const { out, io: streams } = io();
    const code = await main(
      ['rotate'],
      envFor({ ACS_ENDPOINT: undefined, EMAIL_SENDER: undefined }),
      streams,
    );
    expect(code).toBe(1); // the demo tenant has a failing app
    expect(count(out.stdout + out.stderr, NOTIFICATIONS_OFF_NOTE)).toBe(1);
    expect(out.stdout).toContain(`Note: ${NOTIFICATIONS_OFF_NOTE}`);
    expect(cloud.mail.messages).toHaveLength(0);
  });

  it('notifications off with --json: the note is in the report only', async () => {
    const { out, io: streams } = io();
    await main(['rotate', '--json'], envFor({ ACS_ENDPOINT: undefined, EMAIL_SENDER: undefined }), streams);
    const report = JSON.parse(out.stdout) as { notes?: string[] };
    expect(report.notes).toEqual([NOTIFICATIONS_OFF_NOTE]);
    expect(out.stderr).not.toContain(NOTIFICATIONS_OFF_NOTE);
  });
});
