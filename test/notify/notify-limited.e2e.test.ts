// A rotator granted only Application.ReadWrite.OwnedBy (no User.ReadBasic.All) sees its apps' owners without
// addresses: the run says so once, and tag and NOTIFY_ALSO recipients are still told. Own file: one cloud per process.
import { afterAll, expect, inject, it } from 'vitest';
import { main } from '../../src/cli.js';
import { OWNERS_UNREADABLE_NOTE } from '../../src/notify/notify.js';
import { startSimCloud } from '../sim/cloud.js';
import { seedDemoTenant } from '../sim/seed.js';

const cloud = await startSimCloud({
  graphThrottling: false,
  rotatorGraphRoles: ['Application.ReadWrite.OwnedBy'],
});
afterAll(() => cloud.stop());
Object.assign(process.env, cloud.env);

it('notes the unreadable owners once and still reaches the tag and NOTIFY_ALSO recipients', async () => {
  seedDemoTenant(cloud);
  const out = { stdout: '', stderr: '' };
  const code = await main(
    ['rotate', '--json'],
    {
      ...cloud.env,
      VERIFY_TIMEOUT_SECONDS: '5',
      LOCK_WAIT_SECONDS: '2',
      AzureWebJobsStorage: inject('azuriteConnectionString'),
      NOTIFY_ALSO: 'security@contoso.com',
    },
    {
      stdout: { write: (s: string) => (out.stdout += s) },
      stderr: { write: (s: string) => (out.stderr += s) },
    },
  );
  expect(code).toBe(1); // the personal-account app fails in the demo tenant
  const report = JSON.parse(out.stdout) as {
    notes?: string[];
    summary: { rotated: number };
    apps: Array<{ displayName: string; notified?: string[] }>;
  };
  expect(report.summary.rotated).toBe(4);
  expect(report.notes).toEqual([OWNERS_UNREADABLE_NOTE]);
  expect(out.stderr).not.toContain(OWNERS_UNREADABLE_NOTE);

  const to = cloud.mail.messages.map((m) => m.to.join(',')).sort();
  expect(to).toEqual(['secops@contoso.com', 'security@contoso.com']);
  expect(cloud.mail.to('secops@contoso.com')[0]!.subject).toBe(
    'Entra app secrets: client secret rotated for "Payroll API"',
  );
  expect(cloud.mail.to('security@contoso.com')[0]!.subject).toBe(
    'Entra app secrets: 4 client secrets rotated, 1 failed',
  );
  expect(report.apps.find((a) => a.displayName === 'Payroll API')!.notified).toEqual([
    'secops@contoso.com',
    'security@contoso.com',
  ]);
});
