// What the status page shows, gathered: a scan over the scope (the engine's own verdict per app), the same apps'
// credentials from the scan's own Graph listing (for the timeline and the last rotation), and the last runs of the
// run table.
import type { GraphApi } from '../azure/graph.js';
import { RunTable } from '../azure/runs.js';
import { describeError } from '../errors.js';
import { inline } from '../handoff.js';
import type { RunDeps } from '../rotation/context.js';
import { policyFor } from '../rotation/policy.js';
import { runOnce } from '../run.js';
import type { Settings } from '../settings.js';
import { buildStatus, type AppFacts, type StatusInput, type StatusPage } from './model.js';

export const RECENT_RUNS = 10;

/** The run table (AzureWebJobsStorage), or runs already at hand (newest first); without either, no runs. */
export type RunHistory = RunTable | StatusInput['runs'] | undefined;

export async function gatherStatus(deps: RunDeps, runs?: RunHistory): Promise<StatusPage> {
  const { settings } = deps;
  const notes: string[] = [];
  const facts = new Map<string, AppFacts>();
  const [scan, history] = await Promise.all([
    runOnce(withFactsOfListing(deps, facts), 'http', inline, { mode: 'scan' }),
    runs instanceof RunTable
      ? recentRuns(runs, RECENT_RUNS).catch((err: unknown) => {
          notes.push(`the run table could not be read: ${describeError(err)}`);
          return [];
        })
      : Promise.resolve(runs ?? []),
  ]);
  const report = scan.result!.report;
  return buildStatus({
    now: deps.clock.now(),
    scope: scopeOf(settings),
    apps: report.apps,
    facts,
    runs: history,
    notes: [...(report.notes ?? []), ...notes],
  });
}

function scopeOf(settings: Settings): string {
  const scope = settings.scope === 'owned' ? 'apps the rotator owns' : `apps tagged ${settings.tag ?? ''}`;
  return settings.tag && settings.scope === 'owned' ? `${scope} and tagged ${settings.tag}` : scope;
}

/**
 * The run's dependencies with a Graph whose listings also record each listed app's credentials and renewal window
 * in `facts`: the scan's own listing of the scope gives them, so the scope is listed once.
 */
function withFactsOfListing(deps: RunDeps, facts: Map<string, AppFacts>): RunDeps {
  const { graph } = deps.services;
  const applicationPages: GraphApi['applicationPages'] = async function* (source) {
    for await (const page of graph.applicationPages(source)) {
      for (const app of page) {
        const policy = policyFor(app, deps.settings);
        facts.set(app.appId.toLowerCase(), {
          passwordCredentials: app.passwordCredentials,
          ...(policy.ok ? { renewBeforeDays: policy.policy.renewBeforeDays } : {}),
        });
      }
      yield page;
    }
  };
  // Every other member is the run's own Graph (its budget, its transport); only the listing is wrapped.
  const recording = new Proxy(graph, {
    get: (target, name) => (name === 'applicationPages' ? applicationPages : Reflect.get(target, name)),
  });
  return { ...deps, services: { ...deps.services, graph: recording } };
}

/** The newest runs (run rows live one per partition, so this reads every run row: a small table). */
export async function recentRuns(table: RunTable, count: number): Promise<StatusInput['runs']> {
  const client = await table.table();
  const heads: Array<{ runId: string; startedAt: string }> = [];
  const rows = client.listEntities<{ startedAt?: string }>({
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
