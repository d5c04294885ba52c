// The bench's emergency-queue mode (issue 15 §3): `POST /api/rotate {"all", "force", "revokeSuperseded"}` through the
// real HTTP handler (bench/emergency-post.ts), which hands every app to the queue workers, and `workers` Function App
// instances (bench/queue-host.ts, one process each) that poll the Azurite queue as the host does and run the real
// worker handler. Each process paces Graph by itself, as separate instances on Azure would, and their writes share
// Graph's write budget through the ledger in Azurite (src/azure/write-ledger.ts). Wall time runs from the call to the
// line of the worker that sent the run's digest ("run complete").
import { join } from 'node:path';
import { RunTable } from '../src/azure/runs.js';
import { summarize, type AppReport } from '../src/rotation/report.js';
import { spawnChild, type ChildRun, type SpawnedChild } from './child.js';
import { processCpuSeconds } from './sim-process.js';

export interface ProcessUsage {
  name: string;
  cpuSeconds: number;
  /** -1 when unknown. */
  mainThreadCpuSeconds: number;
  maxRssKiB: number;
}

/** What one mode's run gives the bench: its wall time, phases, each rotator process's usage, and its report. */
export interface ModeRun {
  exitCode: number | null;
  wallMs: number;
  phases: Record<string, number>;
  processes: ProcessUsage[];
  report: { summary: Record<string, number>; apps: Array<{ action: string; reason?: string }> };
}

export const usageOf = (name: string, r: ChildRun): ProcessUsage => ({
  name,
  cpuSeconds: r.cpuSeconds,
  mainThreadCpuSeconds: r.mainThreadCpuSeconds,
  maxRssKiB: r.maxRssKiB,
});

const cpuNow = (pid: number | undefined): [number, number] => [
  processCpuSeconds(pid),
  processCpuSeconds(pid, pid),
];

/** A process's usage less what it spent before the run started (`before`: total and main thread CPU s). */
function afterImports(name: string, r: ChildRun, before: [number, number] = [0, 0]): ProcessUsage {
  const u = usageOf(name, r);
  return {
    ...u,
    cpuSeconds: u.cpuSeconds - before[0],
    mainThreadCpuSeconds: u.mainThreadCpuSeconds < 0 ? -1 : u.mainThreadCpuSeconds - before[1],
  };
}

/** Earliest `first …` and latest `last …` over several processes' phases. */
function mergePhases(all: Array<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const phases of all)
    for (const [k, v] of Object.entries(phases))
      out[k] = out[k] === undefined ? v : k.startsWith('first') ? Math.min(out[k], v) : Math.max(out[k], v);
  return out;
}

/** Resolves when `child` prints `mark` on stderr (or rejects when it exits first). */
const printed = (lines: Map<SpawnedChild, Set<string>>, child: SpawnedChild, mark: string) =>
  new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (lines.get(child)?.has(mark)) done(resolve);
      else if (child.child.exitCode !== null) done(() => reject(new Error(`child exited before '${mark}'`)));
    }, 20);
    const done = (f: () => void) => (clearInterval(timer), f());
  });

export async function runThroughQueue(o: {
  root: string;
  env: Record<string, string>;
  workers: number;
  storage: string;
}): Promise<ModeRun> {
  let t0 = Number.NaN;
  const started = () => t0;
  const marks = new Map<SpawnedChild, Set<string>>();
  let completedAt: number | undefined;
  const ledger = { reservations: 0, failures: 0, granted: 0, dropped: 0 };
  const watch = (name: string) => (line: string) => {
    if (line.startsWith('@@ledger ')) {
      const got = JSON.parse(line.slice(9)) as Partial<typeof ledger>;
      for (const k of Object.keys(ledger) as Array<keyof typeof ledger>) ledger[k] += got[k] ?? 0;
    }
    if (line.startsWith('@@')) marks.get(children.get(name)!)?.add(line.trim());
    if (completedAt === undefined && /^\[entra-secret-rotator\] run complete /.test(line))
      completedAt = performance.now();
  };
  const children = new Map<string, SpawnedChild>();
  const start = (name: string, script: string) => {
    const c = spawnChild(['--import', 'tsx', join(o.root, 'bench', script)], o.env, {
      cwd: o.root,
      started,
      stdin: 'pipe',
      onLine: watch(name),
    });
    children.set(name, c);
    marks.set(c, new Set());
    return c;
  };
  const workers = Array.from({ length: o.workers }, (_, i) => start(`worker ${i + 1}`, 'queue-host.ts'));
  const post = start('http', 'emergency-post.ts');
  const importCpu = new Map<SpawnedChild, [number, number]>();
  const stopWorkers = () => workers.forEach((w) => w.child.stdin!.end());
  let answered: ChildRun;
  let runId: string;
  try {
    // Warm instances, as on Azure: the clock starts at the call, not at the processes' imports.
    await Promise.all([
      ...workers.map((w) => printed(marks, w, '@@queue-host ready')),
      printed(marks, post, '@@post ready'),
    ]);
    // Their imports are not the run's work: CPU is counted from here.
    for (const c of children.values()) importCpu.set(c, cpuNow(c.child.pid));
    t0 = performance.now();
    post.child.stdin!.write('go\n');
    answered = await post.done;
    if (answered.exitCode !== 0)
      throw new Error(
        `POST /api/rotate failed (exit ${answered.exitCode}): ${answered.stdout.slice(0, 2000)}`,
      );
    runId = (JSON.parse(answered.stdout) as { body: { runId: string } }).body.runId;
    while (completedAt === undefined && workers.every((w) => w.child.exitCode === null))
      await new Promise((r) => setTimeout(r, 50));
  } catch (err) {
    stopWorkers();
    post.child.kill();
    throw err;
  }
  const wallMs = (completedAt ?? performance.now()) - t0;
  stopWorkers();
  const ran = await Promise.all(workers.map((w) => w.done));
  const runs = new RunTable(
    { kind: 'connectionString', connectionString: o.storage },
    { getToken: async () => null },
  );
  const rows = await runs.listApps(runId);
  const apps = rows.map((r) => r.report as AppReport);
  const poisoned = rows.filter((r) => r.source === 'poison').length;
  return {
    exitCode: completedAt === undefined ? 1 : 0,
    wallMs,
    phases: mergePhases([answered.phases, ...ran.map((r) => r.phases)]),
    processes: [
      afterImports('http', answered, importCpu.get(post)),
      ...ran.map((r, i) => afterImports(`worker ${i + 1}`, r, importCpu.get(workers[i]!))),
    ],
    // The shared write budget: its Storage round-trips (each a read and, when granted, a write), tokens granted and
    // tokens dropped unused (each cost a slot of the window).
    report: {
      summary: {
        ...summarize(apps),
        poisoned,
        ledgerReservations: ledger.reservations,
        ledgerFailures: ledger.failures,
        ledgerTokensGranted: ledger.granted,
        ledgerTokensDropped: ledger.dropped,
      },
      apps,
    },
  };
}
