// A connection that never answers (see fault-suite.ts): Graph and Key Vault calls time out (60 s in production,
// 1.5 s here) and are then handled like a lost connection (reads retried, an addPassword or a Key Vault write
// resolved by looking), so a hung call cannot stall the run or keep the app's lock renewed for ever. A stalled run
// would exceed vitest's test timeout; how long a run takes is the benchmark's business, not asserted here.
import { describe, expect, it } from 'vitest';
import { GraphApi } from '../../src/azure/graph.js';
import { Vault } from '../../src/azure/vault.js';
import { inline } from '../../src/handoff.js';
import { connect, createServices, runOnce } from '../../src/run.js';
import { loadSettings } from '../../src/settings.js';
import { useFaultCloud } from './fault-suite.js';
import { assertInvariants, checkNothingDoubled, snapshotKeyIds, startCase } from './harness.js';

const f = useFaultCloud('hangs');

const hangs = [
  { op: 'keyvault.setSecret', kind: 'hang' },
  { op: 'keyvault.setSecret', kind: 'commitThenHang' },
  { op: 'keyvault.listVersions', kind: 'hang' },
  { op: 'graph.listOwnedObjects', kind: 'hang' },
  { op: 'graph.getApplication', kind: 'hang' },
  { op: 'graph.addPassword', kind: 'hang' },
  { op: 'graph.addPassword', kind: 'commitThenHang' },
  { op: 'graph.removePassword', kind: 'commitThenHang' },
] as const;

describe('hung connections to Graph and Key Vault', () => {
  it.each(hangs)('$op × $kind', async ({ op, kind }) => {
    const { cloud, env } = f;
    const { emitted, mailFrom, persons, before } = await startCase(cloud);

    const fault = cloud.faults.add({ op, kind, times: 1 });
    const settings = loadSettings(env, { requireKeyVault: true });
    const services = createServices(settings);
    const graph = new GraphApi(services.credential, settings, { timeoutMs: 1_500 });
    const vault = new Vault(
      services.credential,
      { ...settings, keyVaultUrl: settings.keyVaultUrl! },
      { timeoutMs: 1_500 },
    );
    const started = Date.now();
    const deps = await connect(settings, emitted.logger('hung run log'), { ...services, graph, vault });
    const { report } = (await runOnce(deps, 'cli', inline, { mode: 'rotate' })).result!;
    emitted.add('hung run report', report);
    cloud.faults.clear();
    expect(fault.hits).toBe(1);
    expect(report.summary.failed, JSON.stringify(report.apps)).toBe(0);
    checkNothingDoubled(cloud, before);

    const between = snapshotKeyIds(cloud);
    const clean = await f.cli(['rotate', '--json'], emitted, 'clean run');
    expect(clean.code, clean.stderr).toBe(0);
    assertInvariants(cloud, { before: between, persons, fresh: true, emitted, mailOfCase: mailFrom });
    // Recorded for docs/reliability.md, not asserted.
    f.rows.push({
      step: op,
      kind,
      faulted: report.summary,
      ms: Date.now() - started,
      clean: clean.report?.summary,
    });
  });
});
