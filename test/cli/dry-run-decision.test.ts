// A dry run is the real run's decision (issue 16 §4): what is knowable without writing is reported by `scan` and
// `rotate --dry-run` exactly as the real run reports it (action, code, reason). Before, a dry run said
// `would-rotate` for an app that the real run then failed at the two-secret limit.
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import type { AppReport, Report } from '../../src/rotation/report.js';
import { startSimCloud } from '../sim/cloud.js';

const DAY = 86_400_000;

async function run(args: string[], env: Record<string, string>) {
  let stdout = '';
  const code = await main(args, env, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: () => undefined },
  });
  return { code, report: JSON.parse(stdout) as Report };
}

const decision = (e: AppReport | undefined) => e && { action: e.action, code: e.code, reason: e.reason };

describe('dry run = real run', async () => {
  const cloud = await startSimCloud();
  afterAll(() => cloud.stop());
  // @azure/identity reads the managed identity endpoint from process.env, not from the env main() is given.
  Object.assign(process.env, cloud.env);
  const tag = 'dry-run-decision';
  const env = { ...cloud.env, ROTATION_TAG: tag, VERIFY_TIMEOUT_SECONDS: '10' };
  const writes = () => cloud.log.count(/^graph\.(addPassword|removePassword)$|^keyvault\.setSecret$/);

  it('an app at the two-secret limit: scan, --dry-run and the real run all report failed, two-secret-limit, same reason', async () => {
    const now = Date.now();
    const person = (startDays: number, endDays: number) => ({
      displayName: 'made by a person',
      startDateTime: new Date(now + startDays * DAY),
      endDateTime: new Date(now + endDays * DAY),
    });
    const app = cloud.tenant.addApplication({
      displayName: 'Personal Accounts App',
      signInAudience: 'AzureADandPersonalMicrosoftAccount',
      tags: [tag],
      ownerIds: [cloud.rotator.id],
      passwords: [person(-300, -1), person(-170, 5)], // due in 5 days, both slots a person's
    });
    const before = writes();

    const scan = await run(['scan', '--json'], env);
    const dry = await run(['rotate', '--dry-run', '--json'], env);
    expect(writes()).toBe(before);
    const real = await run(['rotate', '--json'], env);

    const expected = {
      action: 'failed',
      code: 'two-secret-limit',
      reason: expect.stringMatching(/allows only 2 client secrets, all in use/) as unknown,
    };
    const entries = [scan, dry, real].map((r) => decision(r.report.apps.find((a) => a.appId === app.appId)));
    for (const e of entries) expect(e).toEqual(expected);
    expect(entries[0]).toEqual(entries[2]);
    expect(entries[1]).toEqual(entries[2]);
    expect([scan.code, dry.code, real.code]).toEqual([1, 1, 1]);
    // The real run refused before any change: both of the person's secrets are still there, nothing was added.
    expect(writes()).toBe(before);
    expect(app.passwordCredentials).toHaveLength(2);
  });
});
