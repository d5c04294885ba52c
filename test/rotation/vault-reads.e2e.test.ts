// How often a rotation reads its Key Vault secret's versions (contract §8: the secret must be the app's before the
// new credential is made, right before the write, and after it). Under the app's lock the run reads them once to
// decide; with lock storage it reads them again under the secret's lease; without, that read would only repeat the
// one just made, so it is not made.
import { afterAll, expect, inject, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';
import { startSimCloud } from '../sim/cloud.js';

const DAY = 86_400_000;
const cloud = await startSimCloud({ replicationDelayMs: 0 });
afterAll(() => cloud.stop());
Object.assign(process.env, cloud.env);

function dueApp(secretName: string) {
  const now = Date.now();
  return cloud.tenant.addApplication({
    displayName: `Reads of ${secretName}`,
    ownerIds: [cloud.rotator.id],
    tags: [`rotation:secretName=${secretName}`],
    passwords: [
      {
        displayName: 'made by a person',
        startDateTime: new Date(now - 170 * DAY),
        endDateTime: new Date(now + 5 * DAY),
      },
    ],
  });
}

// Key Vault's authentication challenges (the SDK's first request of a client) are not reads: countServed leaves
// them out (counted, they made the figure depend on which request came first).
const versionRead = (secretName: string) => (e: { path: string }) =>
  e.path.includes(`/secrets/${secretName}/`);

async function versionReads(secretName: string, env: Record<string, string>) {
  const app = dueApp(secretName);
  const before = cloud.log.countServed('keyvault.listVersions', versionRead(secretName));
  const r = await runCli(['rotate', '--json'], {
    ...cloud.env,
    VERIFY_TIMEOUT_SECONDS: '5',
    ...env,
  });
  expect(r.report?.apps.find((a) => a.appId === app.appId)?.action).toBe('rotated');
  return cloud.log.countServed('keyvault.listVersions', versionRead(secretName)) - before;
}

it('without lock storage: three reads (to decide and own it, before the write, after it)', async () => {
  expect(await versionReads('reads-without-locks', {})).toBe(3);
});

it("with lock storage: four (again under the secret's lease)", async () => {
  expect(
    await versionReads('reads-with-locks', { AzureWebJobsStorage: inject('azuriteConnectionString') }),
  ).toBe(4);
});
