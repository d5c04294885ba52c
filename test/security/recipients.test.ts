// Contract §8 Recipients (issue 13, finding 4): a rotation:notify tag cannot send a rotation notice (vault host,
// secret name and version, keyIds, tenant) outside the organisation. NOTIFY_ALLOWED_DOMAINS, by default the domains
// of NOTIFY_ALSO and of the app's owners; the report's notes name each address held back.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import type { Report } from '../../src/rotation/report.js';
import { startSimCloud } from '../sim/cloud.js';

const DAY = 86_400_000;
const cloud = await startSimCloud({ replicationDelayMs: 0 });
afterAll(() => cloud.stop());
Object.assign(process.env, cloud.env);

async function rotate(env: Record<string, string> = {}) {
  let stdout = '';
  const code = await main(
    ['rotate', '--json'],
    { ...cloud.env, VERIFY_TIMEOUT_SECONDS: '5', NOTIFY_ALSO: 'secops@contoso.com', ...env },
    { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: () => undefined } },
  );
  return { code, report: JSON.parse(stdout) as Report };
}

function dueApp(tags: string[]) {
  const now = Date.now();
  const owner = cloud.tenant.addUser({ displayName: 'Alice Martin', mail: 'alice@contoso.com' });
  return cloud.tenant.addApplication({
    displayName: 'Payroll',
    ownerIds: [cloud.rotator.id, owner.id],
    tags,
    passwords: [
      {
        displayName: 'made by a person',
        startDateTime: new Date(now - 170 * DAY),
        endDateTime: new Date(now + 5 * DAY),
      },
    ],
  });
}

beforeEach(() => {
  cloud.tenant.applications.clear();
  cloud.mail.clear();
});

describe('rotation:notify recipients', () => {
  it('by default, rotation:notify=drop@evil.example receives nothing; the notes say it was held back', async () => {
    const app = dueApp(['rotation:notify=drop@evil.example;payroll-ops@contoso.com']);
    const { report } = await rotate();
    expect(report.apps.find((a) => a.appId === app.appId)).toMatchObject({ action: 'rotated' });
    expect(cloud.mail.to('drop@evil.example')).toEqual([]);
    expect(cloud.mail.to('payroll-ops@contoso.com')).toHaveLength(1); // an owner's domain
    expect(cloud.mail.to('alice@contoso.com')).toHaveLength(1);
    const note = report.notes?.find((n) => n.includes('drop@evil.example'));
    expect(note).toMatch(/not emailed/);
    expect(note).toContain(app.appId);
    expect(report.apps[0]!.notified).not.toContain('drop@evil.example');
  });

  it('NOTIFY_ALLOWED_DOMAINS: an allowed extra domain is emailed, others are not', async () => {
    dueApp(['rotation:notify=ops@fabrikam.com;drop@evil.example']);
    const { report } = await rotate({ NOTIFY_ALLOWED_DOMAINS: 'contoso.com,fabrikam.com' });
    expect(cloud.mail.to('ops@fabrikam.com')).toHaveLength(1);
    expect(cloud.mail.to('drop@evil.example')).toEqual([]);
    expect(
      report.notes?.some((n) => n.includes('drop@evil.example') && n.includes('NOTIFY_ALLOWED_DOMAINS')),
    ).toBe(true);
  });

  it('NOTIFY_ALLOWED_DOMAINS=* allows any domain', async () => {
    dueApp(['rotation:notify=partner@example.org']);
    await rotate({ NOTIFY_ALLOWED_DOMAINS: '*' });
    expect(cloud.mail.to('partner@example.org')).toHaveLength(1);
  });
});
