// Fault matrix (see fault-suite.ts) for removePassword (retiring superseded secrets, making room, compensating), and
// the rule that a person's credential is never removed to make room.
import { describe, expect, inject, it } from 'vitest';
import { defaultSecretName } from '../../src/rotation/policy.js';
import { faultMatrix, useFaultCloud } from './fault-suite.js';
import {
  assertInvariants,
  DAY,
  Emitted,
  expireLocks,
  lastSeq,
  resetSmallTenant,
  snapshotKeyIds,
  snapshotPersonCredentials,
} from './harness.js';

const f = useFaultCloud('graph.removePassword');
faultMatrix(['graph.removePassword'], f);

describe("a person's credential is never removed", () => {
  it("a two-secret app whose other slot holds a person's secret is refused, even forced, and keeps both", async () => {
    const { cloud } = f;
    await expireLocks(inject('azuriteConnectionString'), cloud);
    cloud.faults.clear();
    resetSmallTenant(cloud);
    const now = Date.now();
    const app = cloud.tenant.addApplication({
      displayName: 'Loyalty App',
      signInAudience: 'PersonalMicrosoftAccount',
      ownerIds: [cloud.rotator.id],
      passwords: [
        { displayName: null, startDateTime: new Date(now - 400 * DAY), endDateTime: new Date(now - DAY) },
        {
          displayName: 'entra-secret-rotator 2026-06-01 current',
          startDateTime: new Date(now - 170 * DAY),
          endDateTime: new Date(now + 5 * DAY),
        },
      ],
    });
    const current = app.passwordCredentials[1]!;
    cloud.vault.seed(defaultSecretName(app.appId), current.secretText, {
      tags: { appId: app.appId, keyId: current.keyId },
    });
    const emitted = new Emitted();
    const persons = snapshotPersonCredentials(cloud);
    const before = snapshotKeyIds(cloud);
    const seq = lastSeq(cloud);
    const forced = await f.cli(['rotate', '--app', app.appId, '--force', '--json'], emitted, 'forced run');
    expect(forced.code).toBe(1);
    expect(forced.report!.apps[0]).toMatchObject({ action: 'failed' });
    expect(forced.report!.apps[0]!.reason).toMatch(/only 2 client secrets/);
    expect(cloud.log.count(/^graph\.(addPassword|removePassword)$/, (e) => e.seq > seq)).toBe(0);
    assertInvariants(cloud, { before, persons, fresh: false, emitted });
  });
});
