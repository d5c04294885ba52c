// The engine's page backpressure that keeps a large tenant's run in constant memory. No timings here: the bench
// itself measures those.
import { describe, expect, it } from 'vitest';
import type { GraphApi } from '../../src/azure/graph.js';
import type { Vault, VaultDetail } from '../../src/azure/vault.js';
import type { AppView } from '../../src/rotation/checks.js';
import { inline } from '../../src/handoff.js';
import { runOnce } from '../../src/run.js';
import { loadSettings } from '../../src/settings.js';

describe('engine page backpressure', () => {
  it('never holds more than two pages of apps that are listed but not yet decided', async () => {
    const DAY = 86_400_000;
    const now = new Date('2026-06-01T00:00:00Z');
    const pageSize = 50;
    const pages = 8;
    const app = (i: number): AppView => ({
      id: `obj-${i}`,
      appId: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
      displayName: `app ${i}`,
      tags: [],
      // every app is due, so a scan reads its Key Vault secret (a slow step we control)
      passwordCredentials: [
        {
          keyId: `k-${i}`,
          displayName: 'made by a person',
          startDateTime: new Date(now.getTime() - 100 * DAY).toISOString(),
          endDateTime: new Date(now.getTime() + 3 * DAY).toISOString(),
        },
      ],
    });
    let listed = 0;
    let decided = 0;
    let maxWaiting = 0;
    const graph = {
      async *applicationPages() {
        for (let p = 0; p < pages; p++) {
          // What is listed and undecided when the next page is asked for.
          maxWaiting = Math.max(maxWaiting, listed - decided);
          const page = Array.from({ length: pageSize }, (_, k) => app(p * pageSize + k));
          listed += page.length;
          yield page;
        }
      },
    } as unknown as GraphApi;
    const vault = {
      // No vault index (the listing fails), so every due app is decided by its own, slow, Key Vault read.
      async latestTagsByName() {
        throw new Error('listing unavailable');
      },
      async view(): Promise<VaultDetail> {
        await new Promise((r) => setTimeout(r, 1));
        decided++;
        return { storedKeyIds: new Set() };
      },
    } as unknown as Vault;
    const settings = loadSettings(
      { KEY_VAULT_URL: 'https://kv.vault.azure.net', ROTATION_CONCURRENCY: '4' },
      { requireKeyVault: false },
    );
    const deps = {
      settings,
      services: { credential: { getToken: async () => null }, graph, vault },
      identity: { tenantId: 't', objectId: 'rotator' },
      clock: { now: () => now, sleep: async () => undefined },
      log: () => undefined,
    };
    const { report } = (await runOnce(deps, 'cli', inline, { mode: 'scan' })).result!;
    expect(report.summary.scanned).toBe(pages * pageSize);
    expect(report.summary.wouldRotate).toBe(pages * pageSize);
    expect(maxWaiting).toBeLessThanOrEqual(2 * pageSize);
  });
});
