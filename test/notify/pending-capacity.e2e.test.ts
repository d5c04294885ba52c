// The pending store's capacity (issue 17: a 300-app year filled its 25 KB and the cap drops the oldest notices):
// more held notices than 25 KB of plain JSON can hold are all kept, compressed, in the one secret, and all told
// once ACS is back; a store written by the previous release (v1, plain JSON) is read and drained. Real rotations
// through runOnce, the store read back from the simulated Key Vault and inflated here, not by the product.
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { Vault } from '../../src/azure/vault.js';
import { inline } from '../../src/handoff.js';
import {
  decodePending,
  MAX_PENDING_BYTES,
  PENDING_SECRET_NAME,
  type PendingItem,
} from '../../src/notify/pending.js';
import { connect, createServices, runOnce } from '../../src/run.js';
import { loadSettings } from '../../src/settings.js';
import { startSimCloud } from '../sim/cloud.js';
import type { SimApplication } from '../sim/tenant.js';

const cloud = await startSimCloud({ graphThrottling: false, replicationDelayMs: 0 });
afterAll(() => cloud.stop());
const storage = inject('azuriteConnectionString');
const env = {
  ...cloud.env,
  VERIFY_TIMEOUT_SECONDS: '5',
  LOCK_WAIT_SECONDS: '2',
  AzureWebJobsStorage: storage,
  NOTIFY_ALSO: 'secops@contoso.com',
};
Object.assign(process.env, env);

const DAY = 86_400_000;
const SECOPS = 'secops@contoso.com';
/** More rotated apps than 25 KB of v1 JSON can hold as held notices (about 53 of them fit). */
const APPS = 90;

const settings = () => loadSettings(env, { requireKeyVault: true });
const run = async () =>
  (await runOnce(await connect(settings(), () => undefined), 'timer', inline, { mode: 'rotate' })).result!;

/** The stored value as it is in Key Vault, and its document inflated by the test itself. */
function stored(): { raw: string; document: string } {
  const raw = cloud.vault.latest(PENDING_SECRET_NAME)!.value;
  const outer = JSON.parse(raw) as { v: number; gz?: string };
  const document = outer.v === 2 ? gunzipSync(Buffer.from(outer.gz!, 'base64')).toString('utf8') : raw;
  return { raw, document };
}

/** Accepted messages to `to` that tell of the rotation that made `keyId`. */
const toldAbout = (to: string, keyId: string) =>
  cloud.mail.messages.filter(
    (m) => !m.dropped && m.to.includes(to) && (m.plainText ?? '').includes(`New secret: keyId ${keyId}`),
  ).length;

function dueApps(count: number): Array<{ app: SimApplication; owner: string }> {
  const now = cloud.clock.nowMs();
  return Array.from({ length: count }, (_, i) => {
    const owner = `capacity-owner-${i}@contoso.com`;
    const user = cloud.tenant.addUser({ displayName: `Capacity owner ${i}`, mail: owner });
    const app = cloud.tenant.addApplication({
      displayName: `Capacity App ${String(i).padStart(3, '0')}`,
      ownerIds: [cloud.rotator.id, user.id],
      passwords: [
        {
          displayName: 'made by a person',
          startDateTime: new Date(now - 100 * DAY),
          endDateTime: new Date(now + 5 * DAY),
        },
      ],
    });
    return { app, owner };
  });
}

beforeEach(() => {
  cloud.tenant.applications.clear();
  cloud.tenant.users.clear();
  for (const n of [...cloud.vault.names(), ...cloud.vault.deletedNames()]) cloud.vault.purge(n);
  cloud.mail.clear();
  cloud.faults.clear();
});

describe('the pending store holds more than 25 KB of plain notices', () => {
  it(`keeps all ${APPS} notices of a run with ACS down (v1 kept about 44 and dropped the rest), and tells each once after`, async () => {
    const apps = dueApps(APPS);
    cloud.faults.add({ op: 'acs.send', kind: 'status', status: 400, times: 10_000 });
    const first = await run();
    cloud.faults.clear();
    const keyIdOf = new Map(first.report.apps.map((a) => [a.appId, a.keyId]));
    expect(apps.every(({ app }) => keyIdOf.get(app.appId))).toBe(true);
    expect(first.report.notes?.join('\n') ?? '').not.toMatch(/dropped/);

    // Every notice held, in one secret under Key Vault's limit, where v1 plain JSON would not have fit.
    const { raw, document } = stored();
    const held = decodePending(raw);
    expect(held.invalid).toBe(0);
    expect(held.items).toHaveLength(APPS);
    expect(held.items.every((i) => i.to.length === 2)).toBe(true); // the owner and NOTIFY_ALSO
    const v1 = JSON.stringify({ v: 1, items: held.items });
    expect(Buffer.byteLength(v1)).toBeGreaterThan(MAX_PENDING_BYTES);
    expect(Buffer.byteLength(raw)).toBeLessThanOrEqual(MAX_PENDING_BYTES);
    expect(JSON.parse(document)).toEqual({ v: 1, items: held.items });
    // Measured 2026-12-01: v1 51,217 bytes (569 a notice), stored 13,635 (152 a notice).

    // No secret value in the stored value, compressed or inflated.
    const secrets = cloud.tenant.issuedSecrets.filter((s) => s.length >= 8);
    expect(secrets.length).toBeGreaterThanOrEqual(APPS);
    for (const s of secrets) {
      expect(raw.includes(s)).toBe(false);
      expect(document.includes(s)).toBe(false);
    }

    // ACS is back: every owner and NOTIFY_ALSO told of every rotation exactly once; nothing left held.
    const second = await run();
    expect(second.report.notes?.join('\n') ?? '').not.toMatch(/dropped|not sent/);
    for (const { app, owner } of apps) {
      const keyId = keyIdOf.get(app.appId)!;
      expect(toldAbout(owner, keyId), owner).toBe(1);
      expect(toldAbout(SECOPS, keyId), `${SECOPS} about ${app.displayName}`).toBe(1);
    }
    expect(cloud.mail.to(SECOPS)).toHaveLength(1);
    expect(decodePending(stored().raw)).toEqual({ items: [], invalid: 0 });

    // And never again.
    await run();
    for (const { app, owner } of apps) expect(toldAbout(owner, keyIdOf.get(app.appId)!)).toBe(1);
  });
});

describe('a store written by the previous release (v1, plain JSON)', () => {
  it('is read and drained: each notice told once', async () => {
    const now = cloud.clock.nowMs();
    const items: PendingItem[] = Array.from({ length: 40 }, (_, i) => ({
      appId: crypto.randomUUID(),
      displayName: `Earlier App ${i}`,
      action: 'rotated',
      keyId: crypto.randomUUID(),
      expiresOn: new Date(now + 180 * DAY).toISOString(),
      queuedAt: new Date(now - DAY).toISOString(),
      runId: 'earlier-run',
      to: [`earlier-owner-${i}@contoso.com`, SECOPS],
    }));
    // Written as the previous release wrote it, through the real Key Vault SDK.
    const s = settings();
    const v1 = JSON.stringify({ v: 1, items });
    expect(Buffer.byteLength(v1)).toBeLessThanOrEqual(MAX_PENDING_BYTES);
    await new Vault(createServices(s).credential, { ...s, keyVaultUrl: s.keyVaultUrl! }).store(
      PENDING_SECRET_NAME,
      v1,
      { contentType: 'application/json', tags: { purpose: 'pending-notifications' } },
    );

    const { report } = await run(); // nothing to rotate: only the held notices to send
    expect(report.notes).toBeUndefined();
    for (const [i, item] of items.entries()) {
      expect(toldAbout(`earlier-owner-${i}@contoso.com`, item.keyId!)).toBe(1);
      expect(toldAbout(SECOPS, item.keyId!)).toBe(1);
    }
    expect(cloud.mail.to(SECOPS)).toHaveLength(1);
    expect(decodePending(stored().raw)).toEqual({ items: [], invalid: 0 });
  });
});
