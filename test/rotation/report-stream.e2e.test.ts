// The CLI's report on a tenant of several Graph pages: written while the run goes (so a large tenant's report is
// never held whole), and still one whole report, which tells owners what was done, when Graph breaks off the
// listing part way.
import { afterAll, describe, expect, it } from 'vitest';
import { startSimCloud } from '../sim/cloud.js';
import { seedLargeTenant } from '../sim/seed.js';
import { main } from '../../src/cli.js';
import type { Report } from '../../src/rotation/report.js';

const cloud = await startSimCloud();
afterAll(() => cloud.stop());
Object.assign(process.env, cloud.env); // the managed-identity credential reads its endpoint from process.env
const APPS = 2200; // three Graph pages of 999
const tenant = seedLargeTenant(cloud, { apps: APPS, duePercent: 2, ownerPool: 20 });
const listings = () => cloud.log.count('graph.listOwnedObjects');

async function cli(args: string[]) {
  const pieces: Array<{ text: string; pagesListed: number }> = [];
  let stderr = '';
  const code = await main(
    args,
    { ...cloud.env, VERIFY_TIMEOUT_SECONDS: '10' },
    {
      stdout: { write: (s: string) => pieces.push({ text: s, pagesListed: listings() }) },
      stderr: { write: (s: string) => (stderr += s) },
    },
  );
  const stdout = pieces.map((p) => p.text).join('');
  return { code, stdout, stderr, pieces };
}

describe('the CLI report of a tenant of several pages', () => {
  it('is written while the apps are listed, and is one JSON report of every app', async () => {
    const before = listings();
    const r = await cli(['scan', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const pages = listings() - before;
    expect(pages).toBe(3);
    // The first piece went out before the last page was even asked for: the report is not held until the end.
    expect(r.pieces[0]!.pagesListed - before).toBeLessThan(pages);
    expect(Math.max(...r.pieces.map((p) => p.text.length))).toBeLessThan(70_000);
    const report = JSON.parse(r.stdout) as Report;
    expect(new Set(report.apps.map((a) => a.appId))).toEqual(new Set(tenant.apps.map((a) => a.appId)));
    expect(report.apps).toHaveLength(APPS);
    expect(report.summary).toMatchObject({ scanned: APPS, wouldRotate: tenant.dueAppIds.length });
  });

  it('the table too: one row per app, the summary under it', async () => {
    const r = await cli(['scan']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.pieces.length).toBeGreaterThan(1);
    const rows = r.stdout.split('\n').filter((l) => /^Service \d{5}/.test(l));
    expect(rows).toHaveLength(APPS);
    expect(r.stdout).toMatch(new RegExp(`${APPS} apps: 0 rotated, ${tenant.dueAppIds.length} would rotate`));
  });

  it('when Graph breaks off the listing, reports and notifies what was rotated, then fails with one whole report', async () => {
    const fault = cloud.faults.fail('graph.listOwnedObjects', 403, undefined, {
      code: 'Authorization_RequestDenied',
      after: 2, // the third page
    });
    cloud.mail.clear();
    try {
      const r = await cli(['rotate', '--json']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/the run failed before it could finish: .*403/);
      const report = JSON.parse(r.stdout) as Report & { error?: string };
      expect(report.error).toMatch(/only the apps settled until then.*403/);
      expect(report.apps).toHaveLength(2 * 999);
      expect(report.summary.scanned).toBe(2 * 999);

      // Every due app of the first two pages was rotated, its owners told, and the report says so.
      const firstPages = new Set(report.apps.map((a) => a.appId));
      const due = tenant.dueAppIds.filter((id) => firstPages.has(id));
      expect(due.length).toBeGreaterThan(10);
      const rotated = report.apps.filter((a) => a.action === 'rotated');
      expect(rotated.map((a) => a.appId).sort()).toEqual([...due].sort());
      for (const a of rotated) expect(a.notified?.length, a.displayName).toBeGreaterThan(0);
      const told = new Set(cloud.mail.messages.flatMap((m) => m.to.map((t) => t.toLowerCase())));
      for (const a of rotated) for (const to of a.notified!) expect(told.has(to.toLowerCase())).toBe(true);

      // The apps of the third page were never touched.
      const third = tenant.apps.filter((a) => !firstPages.has(a.appId));
      expect(third).toHaveLength(APPS - 2 * 999);
      for (const app of third)
        expect(
          app.passwordCredentials.filter((c) => c.displayName?.startsWith('entra-secret-rotator')),
        ).toEqual([]);
    } finally {
      cloud.faults.remove(fault);
    }
  });
});
