// A run killed between storing a new secret and sending its digest (the soak's told-once finding, "never told"):
// the notice is recorded with the secret (its Key Vault version is tagged notice=owed) and the next whole-scope
// run, once the killed run is surely over, holds it and sends it with its digest. Exactly one message about the
// rotation per recipient, and a finished run leaves no owed notice behind. A real CLI child killed with SIGKILL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenCredential } from '@azure/identity';
import { AppLocks } from '../../src/azure/locks.js';
import { inline } from '../../src/handoff.js';
import { CLAIMED_BY_TAG } from '../../src/notify/claim.js';
import { NOTICE_OWNERS_UNTOLD_TAG } from '../../src/notify/notice-tag.js';
import { pendingLockName } from '../../src/notify/pending.js';
import { NOTICE_TAKEOVER_MS } from '../../src/notify/recover.js';
import { ROTATOR_PREFIX } from '../../src/rotation/checks.js';
import { connect, runOnce } from '../../src/run.js';
import { loadSettings } from '../../src/settings.js';
import type { Clock } from '../../src/util/clock.js';
import type { SimCloud } from '../sim/cloud.js';
import type { SimApplication } from '../sim/tenant.js';
import { runKilledAfter, startHarnessCloud, type HarnessCloud } from '../reliability/harness.js';

const DAY = 86_400_000;
const OWNER = 'owner-killed@contoso.com';
let h: HarnessCloud;
let cloud: SimCloud;
let env: Record<string, string>;

beforeAll(async () => {
  h = await startHarnessCloud({ replicationDelayMs: 0 });
  ({ cloud, env } = h);
});
afterAll(() => cloud.stop());

/** A CLI run over these apps, killed right after `op` committed; its leases are broken. */
const killedAfter = (op: string, apps: SimApplication[]) =>
  runKilledAfter(h, ['rotate', ...apps.flatMap((a) => ['--app', a.appId]), '--json'], { op });

/**
 * A run over `app` killed right after ACS accepted its first message: the rotation's keyId, and how many messages
 * about it the owner and NOTIFY_ALSO had by then (one of them at least).
 */
async function killedDuringDigest(app: SimApplication) {
  await killedAfter('acs.send', [app]);
  const keyId = cloud.vault.latest(`app-${app.appId}`)!.tags!.keyId!;
  const before = { owner: toldAbout(OWNER, keyId), secops: toldAbout('secops@contoso.com', keyId) };
  expect(before.owner + before.secops).toBeGreaterThan(0);
  return { keyId, before };
}

/** Time enough for a run to be surely over: its owed notices may be taken over. */
const passTakeoverTime = () => cloud.clock.advance(NOTICE_TAKEOVER_MS + 60_000);

/** The product on the cloud's clock, so that hours passed on the cloud pass for the product too. */
const cloudClock = (): Clock => ({
  now: () => cloud.clock.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 1000))),
});

const connectRun = () =>
  connect(loadSettings(env, { requireKeyVault: true }), () => undefined, undefined, cloudClock());

async function timerLikeRun() {
  return runOnce(await connectRun(), 'timer', inline, { mode: 'rotate' });
}

/** A rotation whose owners' lookup failed on its day: NOTIFY_ALSO was told, the owner not, the notice stays owed. */
async function owedSinceOwnersUnread(app: SimApplication): Promise<string> {
  cloud.faults.add({ op: 'graph.listOwners', kind: 'status', status: 500, times: 1000 });
  const { result } = await timerLikeRun();
  cloud.faults.clear();
  const keyId = result?.report.apps.find((a) => a.appId === app.appId)?.keyId;
  expect(keyId).toBeDefined();
  expect(toldAbout(OWNER, keyId!)).toBe(0);
  expect(toldAbout('secops@contoso.com', keyId!)).toBe(1);
  expect(owedTag(app)).toBe('owed');
  return keyId!;
}

/** How many messages told `to` about the rotation that made `keyId`. */
const toldAbout = (to: string, keyId: string) =>
  cloud.mail.messages.filter(
    (m) => !m.dropped && m.to.includes(to) && (m.plainText ?? '').includes(`New secret: keyId ${keyId}`),
  ).length;

const owedTag = (app: SimApplication) =>
  cloud.vault.latest(`app-${app.appId}`)?.tags?.notice as string | undefined;

function dueApp(name: string): SimApplication {
  const owner = cloud.tenant.addUser({ displayName: name, mail: OWNER });
  const now = cloud.clock.nowMs();
  return cloud.tenant.addApplication({
    displayName: name,
    ownerIds: [cloud.rotator.id, owner.id],
    passwords: [
      {
        displayName: 'made by a person',
        startDateTime: new Date(now - 100 * DAY),
        endDateTime: new Date(now + 5 * DAY),
      },
    ],
  });
}

describe('a run killed between storing a secret and telling its owners', () => {
  it(
    'the next run, once the killed one is surely over, tells the owners exactly once',
    { timeout: 240_000 },
    async () => {
      const app = dueApp('Killed before its digest');
      await killedAfter('keyvault.setSecret', [app]);
      const made = app.passwordCredentials.filter((c) => (c.displayName ?? '').startsWith(ROTATOR_PREFIX));
      expect(made).toHaveLength(1);
      const keyId = made[0]!.keyId;
      expect(cloud.vault.latest(`app-${app.appId}`)?.tags?.keyId).toBe(keyId);
      expect(toldAbout(OWNER, keyId)).toBe(0);
      expect(owedTag(app)).toBe('owed');

      // A run at the same time as the killed one (it might still be telling): the notice is left to it.
      await timerLikeRun();
      expect(toldAbout(OWNER, keyId)).toBe(0);
      expect(owedTag(app)).toBe('owed');

      // Hours later: taken over, told once, marked told.
      passTakeoverTime();
      await timerLikeRun();
      expect(toldAbout(OWNER, keyId)).toBe(1);
      expect(toldAbout('secops@contoso.com', keyId)).toBe(1);
      expect(owedTag(app)).toBeUndefined();
      const told = cloud.mail.messages.find((m) => m.to.includes(OWNER))!;
      expect(told.plainText).toContain(app.appId);
      expect(told.plainText).not.toContain(made[0]!.secretText ?? 'no secret text kept');

      // And never again.
      cloud.clock.advance(DAY);
      await timerLikeRun();
      expect(toldAbout(OWNER, keyId)).toBe(1);
      expect(cloud.vault.versions(`app-${app.appId}`)).toHaveLength(1);
      cloud.tenant.deleteApplication(app.id);
    },
  );

  it(
    'killed between two sends of its digest: whoever it reached is not told again, the others are',
    { timeout: 240_000 },
    async () => {
      const app = dueApp('Killed during its digest');
      const other = dueApp('Rotated with it');
      const mailBefore = cloud.mail.messages.length;
      // The first message ACS accepts is the last thing the killed run does.
      await killedAfter('acs.send', [app, other]);
      const reachedFirst = cloud.mail.messages.slice(mailBefore).flatMap((m) => m.to);
      expect(reachedFirst.length).toBeGreaterThan(0);
      const keyIdOf = (a: SimApplication) => cloud.vault.latest(`app-${a.appId}`)!.tags!.keyId!;

      passTakeoverTime();
      await timerLikeRun();
      // Both owners (one address, two apps) and secops: each told about each rotation exactly once.
      for (const a of [app, other])
        for (const to of [OWNER, 'secops@contoso.com']) expect(toldAbout(to, keyIdOf(a)), to).toBe(1);
      expect(owedTag(app)).toBeUndefined();
      expect(owedTag(other)).toBeUndefined();
      cloud.tenant.deleteApplication(app.id);
      cloud.tenant.deleteApplication(other.id);
    },
  );

  it(
    'ACS cannot say what the dead run sent when its notices are taken over: they stay owed, nobody is told twice',
    { timeout: 240_000 },
    async () => {
      // Soak year seed 1 day 228: a run partly sent its digest, the takeover met ACS down (its lookups failed and
      // counted as "not reached"), held the notices for everyone, and the next run told the reached ones again.
      const app = dueApp('Killed during its digest, ACS down at takeover');
      const { keyId } = await killedDuringDigest(app);

      passTakeoverTime();
      cloud.faults.add({ op: 'acs.getOperation', kind: 'status', status: 400, times: 1000 });
      cloud.faults.add({ op: 'acs.send', kind: 'status', status: 400, times: 1000 });
      await timerLikeRun();
      cloud.faults.clear();
      expect(owedTag(app)).toBe('owed');

      passTakeoverTime();
      await timerLikeRun();
      await timerLikeRun();
      expect(toldAbout(OWNER, keyId)).toBe(1);
      expect(toldAbout('secops@contoso.com', keyId)).toBe(1);
      expect(owedTag(app)).toBeUndefined();
      cloud.tenant.deleteApplication(app.id);
    },
  );

  it('owners that could not be read are told by a later run; whoever was reached is not told again', async () => {
    const app = dueApp('Owners unreadable on its day');
    // Every owner lookup of this run fails (a sub-request of $batch: Graph 429 bursts past the retries in the soak).
    cloud.faults.add({ op: 'graph.listOwners', kind: 'status', status: 500, times: 1000 });
    const { result } = await timerLikeRun();
    cloud.faults.clear();
    const entry = result?.report.apps.find((a) => a.appId === app.appId);
    expect(entry?.action).toBe('rotated');
    const keyId = entry!.keyId!;
    expect(toldAbout(OWNER, keyId)).toBe(0);
    expect(toldAbout('secops@contoso.com', keyId)).toBe(1);
    expect(result?.report.notes?.join('\n')).toMatch(/owners of 1 app\(s\) could not be read/);
    expect(owedTag(app)).toBe('owed');

    passTakeoverTime();
    await timerLikeRun();
    expect(toldAbout(OWNER, keyId)).toBe(1);
    expect(toldAbout('secops@contoso.com', keyId)).toBe(1);
    expect(owedTag(app)).toBeUndefined();
    cloud.tenant.deleteApplication(app.id);
  });

  it('owners unread for one app, though the same run told them about another: the takeover still tells them', async () => {
    // The run told the owner about one app and could not read the owners of another (a $batch sub-request failing
    // past its retries). The takeover found its message to the owner and took it for the owed notice too: the
    // owner was never told of the second rotation (found while examining soak seed 1's 'not told within 3 days' at
    // 3c22f72; not the cause there, docs/reliability.md).
    const unread = dueApp('Owners unread, their owner told about another app');
    const read = dueApp('Owners read, the same owner');
    cloud.faults.add({
      op: 'graph.listOwners',
      kind: 'status',
      status: 500,
      when: (req) => req.path.includes(unread.id),
    });
    const { result } = await timerLikeRun();
    cloud.faults.clear();
    const keyIdOf = (a: SimApplication) => result!.report.apps.find((r) => r.appId === a.appId)!.keyId!;
    expect(toldAbout(OWNER, keyIdOf(read))).toBe(1);
    expect(toldAbout(OWNER, keyIdOf(unread))).toBe(0);
    expect(toldAbout('secops@contoso.com', keyIdOf(unread))).toBe(1);
    expect(owedTag(unread)).toBe('owed');
    expect(cloud.vault.latest(`app-${unread.appId}`)?.tags?.[NOTICE_OWNERS_UNTOLD_TAG]).toBe('true');

    passTakeoverTime();
    await timerLikeRun();
    expect(toldAbout(OWNER, keyIdOf(unread))).toBe(1);
    expect(toldAbout('secops@contoso.com', keyIdOf(unread))).toBe(1);
    expect(toldAbout(OWNER, keyIdOf(read))).toBe(1);
    expect(owedTag(unread)).toBeUndefined();
    cloud.tenant.deleteApplication(unread.id);
    cloud.tenant.deleteApplication(read.id);
  });

  it("a notice taken over reads its app's owners from Graph once", async () => {
    const app = dueApp('Owners read once at takeover');
    const keyId = await owedSinceOwnersUnread(app);
    passTakeoverTime();
    cloud.log.clear();
    await timerLikeRun();
    expect(toldAbout(OWNER, keyId)).toBe(1);
    expect(owedTag(app)).toBeUndefined();
    // The takeover reads the owners (it needs them to find whom the dead run reached) and hands them on to the
    // notice it holds: the mail step does not read them again.
    expect(cloud.log.count('graph.listOwners', (e) => e.path.includes(app.id))).toBe(1);
    cloud.tenant.deleteApplication(app.id);
  });

  it('two whole-scope runs at once: only one takes over an owed notice (its owner is told once)', async () => {
    const app = dueApp('Owed when two runs meet');
    const keyId = await owedSinceOwnersUnread(app);
    passTakeoverTime();
    // The timer and POST /api/rotate start together and both list the vault, where the notice is owed; the second
    // reaches its takeover after the first has told the owner (the soak's told-once finding, "told twice").
    const [first, second] = [await connectRun(), await connectRun()];
    const listedAtStart = second.services.vault!.latestTagsByName();
    let firstOver!: () => void;
    const firstDone = new Promise<void>((resolve) => (firstOver = resolve));
    second.services.vault!.latestTagsByName = async () => {
      const listing = await listedAtStart;
      await firstDone;
      return listing;
    };
    await Promise.all([
      runOnce(first, 'timer', inline, { mode: 'rotate' }).finally(firstOver),
      runOnce(second, 'http', inline, { mode: 'rotate' }),
    ]);
    expect(toldAbout(OWNER, keyId)).toBe(1);
    expect(toldAbout('secops@contoso.com', keyId)).toBe(1);
    expect(owedTag(app)).toBeUndefined();
    // The claim went with the notice.
    expect(Object.keys(cloud.vault.latest(`app-${app.appId}`)?.tags ?? {})).not.toContain(CLAIMED_BY_TAG);
    cloud.tenant.deleteApplication(app.id);
  });

  it(
    'owners that cannot be read when a notice is taken over: it stays owed, and whoever the dead run reached is not told again',
    { timeout: 240_000 },
    async () => {
      const app = dueApp('Killed during its digest, owners unread at takeover');
      const { keyId, before } = await killedDuringDigest(app);

      // The takeover's own owner lookup fails (Graph 429 bursts past the retries); the notification step's, a
      // moment later, succeeds: the owners the dead run reached must not be told again then.
      passTakeoverTime();
      let ownersBack = false;
      cloud.faults.add({ op: 'graph.listOwners', kind: 'status', status: 500, when: () => !ownersBack });
      cloud.faults.add({
        op: 'acs.getOperation',
        kind: 'status',
        when: () => {
          ownersBack = true;
          return false;
        },
      });
      await timerLikeRun();
      cloud.faults.clear();
      expect(toldAbout(OWNER, keyId)).toBe(before.owner);
      expect(toldAbout('secops@contoso.com', keyId)).toBe(before.secops);
      expect(owedTag(app)).toBe('owed');

      // The next run reads the owners and tells whoever was not reached, once.
      await timerLikeRun();
      expect(toldAbout(OWNER, keyId)).toBe(1);
      expect(toldAbout('secops@contoso.com', keyId)).toBe(1);
      expect(owedTag(app)).toBeUndefined();
      cloud.tenant.deleteApplication(app.id);
    },
  );

  it('a message two owners shared is found, though a third owner and NOTIFY_ALSO had the same owed notice', async () => {
    // Three owners; the third also owns an app that cannot be rotated (no service principal: reported failed, a
    // notice with no owed tag), so their digest and NOTIFY_ALSO's differ from the first two owners' shared one.
    const [a, b, d] = ['shared-a', 'shared-b', 'failed-d'].map((n) =>
      cloud.tenant.addUser({ displayName: n, mail: `${n}@contoso.com` }),
    );
    const now = cloud.clock.nowMs();
    const password = [
      {
        displayName: 'made by a person',
        startDateTime: new Date(now - 100 * DAY),
        endDateTime: new Date(now + 5 * DAY),
      },
    ];
    const app = cloud.tenant.addApplication({
      displayName: 'Three owners, one not reached',
      ownerIds: [cloud.rotator.id, a!.id, b!.id, d!.id],
      passwords: password,
    });
    const other = cloud.tenant.addApplication({
      displayName: 'Cannot sign in, no service principal',
      ownerIds: [cloud.rotator.id, d!.id],
      passwords: password,
      servicePrincipal: false,
    });
    // The send of that digest fails, and another run holds the pending notices' lock: the failure cannot be
    // held, so the notice stays owed (soak year seed 1 day 165: the timer and POST /api/rotate at once).
    cloud.faults.add({
      op: 'acs.send',
      kind: 'status',
      status: 400,
      when: (req) => req.body.toString().includes('failed-d@contoso.com'),
    });
    const settings = loadSettings(env, { requireKeyVault: true });
    const locks = new AppLocks(settings.storage!, {} as TokenCredential);
    const pendingLock = await locks.acquire(pendingLockName(settings.keyVaultUrl!), 1000);
    expect(pendingLock).toBeDefined();
    const { result } = await timerLikeRun().finally(() => pendingLock!.release());
    cloud.faults.clear();
    const keyId = result!.report.apps.find((r) => r.appId === app.appId)!.keyId!;
    const sharedMessage = cloud.mail.messages.filter(
      (m) => m.to.length === 2 && m.plainText?.includes(keyId),
    );
    expect(sharedMessage.map((m) => [...m.to].sort())).toEqual([
      ['shared-a@contoso.com', 'shared-b@contoso.com'],
    ]);
    expect(toldAbout('failed-d@contoso.com', keyId)).toBe(0);
    expect(toldAbout('secops@contoso.com', keyId)).toBe(0);
    expect(owedTag(app)).toBe('owed');

    passTakeoverTime();
    await timerLikeRun();
    for (const to of ['shared-a', 'shared-b', 'failed-d', 'secops'])
      expect(toldAbout(`${to}@contoso.com`, keyId), to).toBe(1);
    expect(owedTag(app)).toBeUndefined();
    cloud.tenant.deleteApplication(app.id);
    cloud.tenant.deleteApplication(other.id);
  });

  it('a run that tells its owners leaves no owed notice behind', async () => {
    const app = dueApp('Told by its own run');
    const { result } = await timerLikeRun();
    const entry = result?.report.apps.find((a) => a.appId === app.appId);
    expect(entry?.action).toBe('rotated');
    expect(toldAbout(OWNER, entry!.keyId!)).toBe(1);
    expect(owedTag(app)).toBeUndefined();
    expect(cloud.vault.latest(`app-${app.appId}`)?.tags).toMatchObject({
      appId: app.appId,
      keyId: entry!.keyId,
    });
    cloud.tenant.deleteApplication(app.id);
  });
});
