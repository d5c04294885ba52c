// Two steps failing together (see fault-suite.ts): the compensation itself fails, so the run must leave the orphan
// for the next one, which removes it.
import { describe, expect, it } from 'vitest';
import { useFaultCloud } from './fault-suite.js';
import { assertInvariants, checkNothingDoubled, snapshotKeyIds, startCase } from './harness.js';

const f = useFaultCloud('compound');

const compound = [
  {
    name: 'Key Vault refuses and removePassword is refused',
    faults: ['keyvault.setSecret', 'graph.removePassword'],
  },
  {
    name: 'the proof never works and removePassword is refused',
    faults: ['entra.token', 'graph.removePassword'],
  },
] as const;

describe('compound faults (compensation fails)', () => {
  it.each(compound)('$name: the orphan is removed by the next run', async ({ faults }) => {
    const { cloud } = f;
    const { emitted, mailFrom, persons, before, seq } = await startCase(cloud);
    // 403: the permission is taken away mid-run (quick to fail, unlike a 500 that is retried with backoff).
    for (const op of faults) cloud.faults.add({ op, status: 403 });
    const faulted = await f.cli(['rotate', '--json'], emitted, 'faulted run');
    cloud.faults.clear();
    expect(faulted.code).toBe(1);
    checkNothingDoubled(cloud, before);
    // The failed apps' new credentials are still there: orphans, with their secrets only in a dead run's memory.
    const orphans = faulted.report!.apps.filter((a) =>
      /next run removes it as an orphan/.test(a.reason ?? ''),
    );
    expect(orphans.length).toBeGreaterThan(0);

    const between = snapshotKeyIds(cloud);
    const clean = await f.cli(['rotate', '--json'], emitted, 'clean run');
    expect(clean.code, clean.stderr).toBe(0);
    for (const o of orphans)
      expect(clean.report!.apps.find((a) => a.appId === o.appId)?.orphansRemoved).toHaveLength(1);
    assertInvariants(cloud, {
      before: between,
      persons,
      fresh: true,
      emitted,
      mailOfCase: mailFrom,
      requestsSince: seq,
    });
    f.rows.push({ step: faults.join(' + '), kind: 'compound', faulted: faulted.report?.summary });
  });
});
