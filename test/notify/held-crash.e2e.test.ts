// Held notices sent by a run that is killed before it updates the pending store (the soak's told-once finding,
// seed 3 day 263): a day with ACS down holds the notices in Key Vault; the next run sends them and is killed right
// after its first message is accepted; the run after must not tell whoever that message reached again, and must
// tell the others exactly once. A real CLI child killed with SIGKILL. Own file: one cloud per process.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inline } from '../../src/handoff.js';
import { decodePending, PENDING_SECRET_NAME } from '../../src/notify/pending.js';
import { connect, runOnce } from '../../src/run.js';
import { loadSettings } from '../../src/settings.js';
import type { SimCloud } from '../sim/cloud.js';
import type { SimApplication } from '../sim/tenant.js';
import { runKilledAfter, startHarnessCloud, type HarnessCloud } from '../reliability/harness.js';

const DAY = 86_400_000;
const SECOPS = 'secops@contoso.com';
let h: HarnessCloud;
let cloud: SimCloud;
let env: Record<string, string>;

beforeAll(async () => {
  h = await startHarnessCloud({ replicationDelayMs: 0 });
  ({ cloud, env } = h);
});
afterAll(() => cloud.stop());

const timerLikeRun = async () =>
  runOnce(await connect(loadSettings(env, { requireKeyVault: true }), () => undefined), 'timer', inline, {
    mode: 'rotate',
  });

/** How many accepted messages told `to` about the rotation that made `keyId`. */
const toldAbout = (to: string, keyId: string) =>
  cloud.mail.messages.filter(
    (m) => !m.dropped && m.to.includes(to) && (m.plainText ?? '').includes(`New secret: keyId ${keyId}`),
  ).length;

function dueApp(name: string, ownerMail: string): SimApplication {
  const owner = cloud.tenant.addUser({ displayName: name, mail: ownerMail });
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

it(
  'held notices a killed run had already sent are not told again; the others are told once',
  { timeout: 240_000 },
  async () => {
    // Two apps with different owners: three digests (each owner, and NOTIFY_ALSO with both apps).
    const apps = [dueApp('Held one', 'owner-one@contoso.com'), dueApp('Held two', 'owner-two@contoso.com')];
    const owners = ['owner-one@contoso.com', 'owner-two@contoso.com'];

    // ACS refuses every send; the notices are held in Key Vault.
    cloud.faults.add({ op: 'acs.send', kind: 'status', status: 400, times: 1000 });
    const { result } = await timerLikeRun();
    cloud.faults.clear();
    const keyIds = apps.map((a) => result!.report.apps.find((r) => r.appId === a.appId)!.keyId!);
    expect(keyIds.every(Boolean)).toBe(true);
    expect(cloud.vault.latest(PENDING_SECRET_NAME)).toBeDefined();
    for (const k of keyIds) expect(toldAbout(SECOPS, k)).toBe(0);

    // The next run (the CLI on real time: the cloud's clock is not moved) sends the held notices and is killed as
    // soon as ACS accepts its first message.
    await runKilledAfter(h, ['rotate', '--json'], { op: 'acs.send' });
    const reached = cloud.mail.messages.filter((m) => !m.dropped).flatMap((m) => m.to);
    expect(reached.length).toBeGreaterThan(0);

    // The run after: everyone is told about each rotation exactly once.
    await timerLikeRun();
    for (const to of [...owners, SECOPS]) {
      const about = apps.flatMap((a, i) => (to === SECOPS || to === owners[i] ? [keyIds[i]!] : []));
      for (const k of about) expect(toldAbout(to, k), `${to} about ${k}`).toBe(1);
    }

    // Nothing is left held, and no run is marked as sending.
    const stored = decodePending(cloud.vault.latest(PENDING_SECRET_NAME)!.value!);
    expect(stored).toEqual({ items: [], invalid: 0 });

    // And never again.
    await timerLikeRun();
    for (const [i, k] of keyIds.entries()) {
      expect(toldAbout(owners[i]!, k)).toBe(1);
      expect(toldAbout(SECOPS, k)).toBe(1);
    }
  },
);
