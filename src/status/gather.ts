// What the status page shows, gathered: a scan over the scope (the engine's own verdict per app), the same apps'
// credentials from one Graph listing (for the timeline and the last rotation), and the last runs of the run table.
import { whoAmI } from '../azure/identity.js';
import { RunTable } from '../azure/runs.js';
import { describeError } from '../errors.js';
import { createServices, runRotation, type Logger, type Services } from '../rotation/engine.js';
import { policyFor } from '../rotation/policy.js';
import type { Settings } from '../settings.js';
import { buildStatus, type AppFacts, type StatusInput, type StatusPage } from './model.js';

export const RECENT_RUNS = 10;

export interface GatherOptions {
  now?: () => Date;
  log?: Logger;
  /** The run table (AzureWebJobsStorage), or runs already at hand (newest first); without either, no runs. */
  runs?: RunTable | StatusInput['runs'];
}

export async function gatherStatus(
  settings: Settings,
  opts: GatherOptions = {},
  services: Services = createServices(settings),
): Promise<StatusPage> {
  const now = opts.now ?? (() => new Date());
  services.identity ??= await whoAmI(services.credential, settings);
  const notes: string[] = [];
  const [scan, facts, runs] = await Promise.all([
    runRotation(settings, { mode: 'scan', now, log: opts.log }, services),
    appFacts(settings, services),
    opts.runs instanceof RunTable
      ? recentRuns(opts.runs, RECENT_RUNS).catch((err: unknown) => {
          notes.push(`the run table could not be read: ${describeError(err)}`);
          return [];
        })
      : Promise.resolve(opts.runs ?? []),
  ]);
  const scope = settings.scope === 'owned' ? 'apps the rotator owns' : `apps tagged ${settings.tag ?? ''}`;
  return buildStatus({
    now: now(),
    scope: settings.tag && settings.scope === 'owned' ? `${scope} and tagged ${settings.tag}` : scope,
    apps: scan.report.apps,
    facts,
    runs,
    notes: [...(scan.report.notes ?? []), ...notes],
  });
}

/** Each app's credentials and renewal window, from one listing of the scope. */
async function appFacts(settings: Settings, services: Services): Promise<Map<string, AppFacts>> {
  const source =
    settings.scope === 'owned' ? { ownedBy: services.identity!.objectId } : { tag: settings.tag! };
  const facts = new Map<string, AppFacts>();
  for await (const page of services.graph.applicationPages(source)) {
    for (const app of page) {
      const policy = policyFor(app, settings);
      facts.set(app.appId.toLowerCase(), {
        passwordCredentials: app.passwordCredentials,
        ...(policy.ok ? { renewBeforeDays: policy.policy.renewBeforeDays } : {}),
      });
    }
  }
  return facts;
}

/** The newest runs (run rows live one per partition, so this reads every run row: a small table). */
export async function recentRuns(table: RunTable, count: number): Promise<StatusInput['runs']> {
  await table.client.createTable();
  const heads: Array<{ runId: string; startedAt: string }> = [];
  const rows = table.client.listEntities<{ startedAt?: string }>({
    queryOptions: { filter: "RowKey eq 'run'", select: ['PartitionKey', 'startedAt'] },
  });
  for await (const e of rows) heads.push({ runId: String(e.partitionKey), startedAt: String(e.startedAt) });
  heads.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  const newest = heads.slice(0, count);
  const runs = await Promise.all(
    newest.map(async ({ runId }) => {
      const [run, apps] = await Promise.all([table.getRun(runId), table.listApps(runId)]);
      return run ? { run, apps } : undefined;
    }),
  );
  return runs.filter((r) => r !== undefined);
}
