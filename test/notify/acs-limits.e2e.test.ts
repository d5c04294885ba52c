// Notifications within ACS Email's documented limits (issue 14 §3, contract §8 "Shared messages"): recipients with
// identical digests share one message (at most 50 recipients), and a 200-recipient backlog of held notices drains
// over several runs on a custom domain (30 sends a minute, 100 an hour; status reads 60 / 200), every recipient
// getting exactly one message. The cloud's clock is the product's clock: the test moves both at once.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { shareIdentical, type Digest, type NotifiableApp } from '../../src/notify/digest.js';
import { notifyOwners } from '../../src/notify/notify.js';
import { PendingStore, type PendingItem } from '../../src/notify/pending.js';
import { summarize, type Report } from '../../src/rotation/report.js';
import { connect } from '../../src/run.js';
import { loadSettings } from '../../src/settings.js';
import { SimClock } from '../sim/clock.js';
import { startSimCloud } from '../sim/cloud.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const clock = new SimClock();
const cloud = await startSimCloud({ clock, acsDomainKind: 'custom', graphThrottling: false });
afterAll(() => cloud.stop());
Object.assign(process.env, cloud.env);

describe('shareIdentical (pure)', () => {
  const app = (n: number): NotifiableApp => ({
    appId: `app-${n}`,
    displayName: `App ${n}`,
    action: 'rotated',
    ownerAddresses: [],
    tagRecipients: [],
  });
  const digest = (to: string, ...apps: number[]): Digest => ({ to, apps: apps.map(app) });
  const render = (d: Digest) => d.apps.map((a) => a.displayName).join(',');

  it('shares only identical digests, at most 50 recipients a message', () => {
    const same = Array.from({ length: 120 }, (_, i) => digest(`u${i}@contoso.com`, 1));
    const messages = shareIdentical([...same, digest('x@contoso.com', 1, 2)], render, (c) => c);
    expect(messages.map((m) => m.to.length)).toEqual([50, 50, 20, 1]);
    expect(messages.slice(0, 3).every((m) => m.content === 'App 1')).toBe(true);
    expect(messages[3]).toEqual({ to: ['x@contoso.com'], content: 'App 1,App 2' });
  });
});

describe('a 200-recipient backlog on a custom domain', () => {
  const APPS = 40;
  const name = (k: number) => `Backlog App ${String(k).padStart(2, '0')}`;
  const address = (i: number) => `member${i}@contoso.com`;
  /** App k goes to members 5k..5k+4; member 0 is also told about app 1 (so its digest differs). */
  const appsOf = (i: number) => (i === 0 ? [0, 1] : [Math.floor(i / 5)]);

  it('drains over several runs, everyone getting exactly one message, within the limits', async () => {
    const settings = loadSettings(
      { ...process.env, NOTIFY_ALSO: '', NOTIFY_ALLOWED_DOMAINS: '*' },
      { requireKeyVault: true },
    );
    const deps = await connect(settings, () => undefined, undefined, clock);
    const store = new PendingStore(deps.services.credential, {
      ...settings,
      keyVaultUrl: settings.keyVaultUrl!,
    });
    const queuedAt = clock.now().toISOString();
    const items: PendingItem[] = Array.from({ length: APPS }, (_, k) => ({
      appId: randomUUID(),
      displayName: name(k),
      action: 'rotated',
      keyId: randomUUID(),
      expiresOn: new Date(clock.nowMs() + 180 * 86_400_000).toISOString(),
      queuedAt,
      runId: randomUUID(),
      to: Array.from({ length: 200 }, (_, i) => i)
        .filter((i) => appsOf(i).includes(k))
        .map(address),
    }));
    expect(new Set(items.flatMap((i) => i.to)).size).toBe(200);
    await store.read();
    await store.write(items);

    let runs = 0;
    for (; runs < 12; runs++) {
      const report: Report = {
        runId: randomUUID(),
        startedAt: clock.now().toISOString(),
        finishedAt: clock.now().toISOString(),
        dryRun: false,
        apps: [],
        summary: summarize([]),
      };
      // A run that may not wait on throttling at all: what ACS refuses stays held for the next run.
      await notifyOwners(deps, report, [], { fullRun: false, mailer: { maxWaitMs: 0, clock } });
      if ((await store.read()).items.length === 0) break;
      clock.advance(10 * MINUTE);
    }
    expect(runs).toBeGreaterThan(0); // 41 messages do not fit into one minute of a custom domain
    expect(runs).toBeLessThan(12);

    // Exactly one message each, listing exactly that recipient's apps; identical digests shared one message.
    for (let i = 0; i < 200; i++) {
      const got = cloud.mail.to(address(i));
      expect(got, address(i)).toHaveLength(1);
      const listed = Array.from({ length: APPS }, (_, k) => k).filter((k) =>
        got[0]!.plainText!.includes(name(k)),
      );
      expect(listed, address(i)).toEqual(appsOf(i));
    }
    const messages = cloud.mail.messages;
    expect(messages).toHaveLength(APPS + 1);
    for (const m of messages) expect(m.to.length + m.cc.length + m.bcc.length).toBeLessThanOrEqual(50);

    // No rolling minute or hour held more accepted sends than the custom domain allows.
    const times = messages.map((m) => Date.parse(m.at)).sort((a, b) => a - b);
    for (const t of times) {
      expect(times.filter((x) => x > t - MINUTE && x <= t).length).toBeLessThanOrEqual(30);
      expect(times.filter((x) => x > t - HOUR && x <= t).length).toBeLessThanOrEqual(100);
    }
  });
});
