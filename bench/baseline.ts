// The bench's sequential baseline: what a straightforward rotator does with the same adapters and protocol
// steps, one app at a time. Every app's Key Vault secret is read (no Graph-only triage), rotations run one
// after another, and owners are fetched one app per request (a $batch of one) before the same digests are
// mailed. Prints the JSON report on stdout like `entra-secret-rotator rotate --json`.
import { randomUUID } from 'node:crypto';
import { GraphApi, type OwnerObject } from '../src/azure/graph.js';
import { whoAmI } from '../src/azure/identity.js';
import { notifyOwners } from '../src/notify/notify.js';
import { decide } from '../src/rotation/checks.js';
import { createServices, type ChangedApp } from '../src/rotation/engine.js';
import { policyFor } from '../src/rotation/policy.js';
import { rotate, sweepOrphans, type StepContext } from '../src/rotation/protocol.js';
import { summarize, type AppReport, type Report } from '../src/rotation/report.js';
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
const services = { ...base, graph: new OneAppPerRequestGraph(base.credential, settings) };
const { graph, vault } = services;
const identity = await whoAmI(services.credential, settings);
services.identity = identity;
const now = () => new Date();
const log = (msg: string, fields?: Record<string, unknown>) =>
  process.stderr.write(`[entra-secret-rotator] ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
const runId = randomUUID();
const startedAt = now().toISOString();
const ctx: StepContext = { settings, graph, vault: vault!, identity, runId, now, lockHeld: false, log };

const apps: AppReport[] = [];
const changed: ChangedApp[] = [];
for await (const page of graph.applicationPages({ ownedBy: identity.objectId })) {
  for (const listed of page) {
    const head = { appId: listed.appId, displayName: listed.displayName };
    const policy = policyFor(listed, settings);
    if (!policy.ok) {
      apps.push({ ...head, action: 'skipped', reason: policy.reason });
      continue;
    }
    const view = await vault!.view(policy.policy.secretName);
    const { app } = await sweepOrphans(ctx, listed, view);
    const decision = decide({ app, policy, vault: view, now: now(), force: false });
    if (decision.action !== 'rotate') {
      apps.push({
        ...head,
        action: decision.action === 'skip' ? 'skipped' : 'up-to-date',
        reason: decision.reason,
      });
      continue;
    }
    const outcome = await rotate(ctx, app, view, { ...decision, policy: policy.policy });
    const report: AppReport = outcome.ok
      ? {
          ...head,
          action: 'rotated',
          keyId: outcome.keyId,
          expiresOn: outcome.expiresOn,
          secretUri: outcome.secretUri,
        }
      : { ...head, action: 'failed', reason: outcome.reason };
    log(outcome.ok ? 'rotated' : 'rotation failed', { appId: app.appId });
    apps.push(report);
    changed.push({ app, report, outcome, notify: policy.policy.notify });
  }
}
const report: Report = { runId, startedAt, finishedAt: '', dryRun: false, apps, summary: summarize(apps) };
const notes = await notifyOwners(settings, services, report, changed, log, now);
report.finishedAt = now().toISOString();
if (notes.length) report.notes = notes;
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exitCode = report.summary.failed > 0 ? 1 : 0;
