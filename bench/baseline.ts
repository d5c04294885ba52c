// The bench's sequential baseline: what a straightforward rotator does with the same adapters and protocol
// steps, one app at a time, each through reconcileApp. Every app's Key Vault secret is read (no Graph-only
// triage), rotations run one after another, and owners are fetched one app per request (a $batch of one) before
// the same digests are mailed. Prints the JSON report on stdout like `entra-secret-rotator rotate --json`.
import { randomUUID } from 'node:crypto';
import { GraphApi, type OwnerObject } from '../src/azure/graph.js';
import { notifyOwners } from '../src/notify/notify.js';
import type { RunContext } from '../src/rotation/context.js';
import { reconcileApp, type ChangedApp } from '../src/rotation/reconcile.js';
import { summarize, type AppReport, type Report } from '../src/rotation/report.js';
import { connect, createServices } from '../src/run.js';
import { loadSettings } from '../src/settings.js';

class OneAppPerRequestGraph extends GraphApi {
  override async ownersOf(appObjectIds: readonly string[]): Promise<Map<string, OwnerObject[]>> {
    const all = new Map<string, OwnerObject[]>();
    for (const id of appObjectIds) for (const [k, v] of await super.ownersOf([id])) all.set(k, v);
    return all;
  }
}

const settings = loadSettings(process.env, { requireKeyVault: true });
const base = createServices(settings);
const log = (msg: string, fields?: Record<string, unknown>) =>
  process.stderr.write(`[entra-secret-rotator] ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
const deps = await connect(settings, log, {
  ...base,
  graph: new OneAppPerRequestGraph(base.credential, settings),
});
const runId = randomUUID();
const startedAt = deps.clock.now().toISOString();
// No vault index: every app's own Key Vault versions are read.
const ctx: RunContext = {
  ...deps,
  runId,
  dryRun: false,
  force: false,
  vaultIndex: Promise.resolve(undefined),
  secretClaims: new Map(),
};

const apps: AppReport[] = [];
const changed: ChangedApp[] = [];
for await (const page of deps.services.graph.applicationPages({ ownedBy: deps.identity.objectId })) {
  for (const listed of page) {
    const done = await reconcileApp(ctx, listed);
    apps.push(done.entry);
    if (done.changed) changed.push(done.changed);
  }
}
const report: Report = { runId, startedAt, finishedAt: '', dryRun: false, apps, summary: summarize(apps) };
const notes = await notifyOwners(deps, report, changed);
report.finishedAt = deps.clock.now().toISOString();
if (notes.length) report.notes = notes;
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exitCode = report.summary.failed > 0 ? 1 : 0;
