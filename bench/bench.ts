// The performance benchmark (issue 8): the simulated cloud in one process, the rotator CLI (compiled, as
// operators run it) in another, over large tenants. Prints a table and writes bench/results.json.
//   npm run bench -- [--sizes 1000,10000,50000] [--smoke] [--concurrency N] [--no-baseline]
// Run through scripts/with-sim-ca.mjs (npm run bench does): the simulator serves TLS with a throwaway CA.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { lowerBound, WRITES_PER_SECOND, type Latencies } from './model.js';
import { startSim, type SimProcess, type SimStats } from './sim-process.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// The latencies issue 8 prescribes for the simulated services (ms per request).
const LATENCY: Latencies = { graph: 50, entra: 30, mi: 30, keyvault: 30, acs: 50 };
const DUE_PERCENT = 5;
const RUN_TIMEOUT_MS = 20 * 60_000;
const PAGE_SIZE = 999; // the engine's Graph page size (src/azure/graph.ts)

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000,50000' },
    smoke: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '16' },
    'verify-timeout': { type: 'string', default: '30' },
    'no-baseline': { type: 'boolean', default: false },
    'baseline-size': { type: 'string', default: '1000' },
    /** Extra node flags for the rotator only (e.g. --max-old-space-size=128), to see how V8's heap sizing moves RSS. */
    'rotator-node-options': { type: 'string', default: '' },
    out: { type: 'string', default: join(root, 'bench', 'results.json') },
  },
  strict: true,
});

const sizes = args.smoke ? [1000] : args.sizes.split(',').map((s) => Number(s.trim()));
if (sizes.some((n) => !Number.isInteger(n) || n < 1)) {
  console.error(`--sizes must be a comma-separated list of positive integers, got '${args.sizes}'`);
  process.exit(2);
}
const baseline = !args.smoke && !args['no-baseline'];
const cli = join(root, 'dist', 'src', 'cli.js');
if (!existsSync(cli)) {
  console.error(`${cli} is missing: run npm run build first (npm run bench does)`);
  process.exit(2);
}
if (!process.env.NODE_EXTRA_CA_CERTS) {
  console.error(
    'NODE_EXTRA_CA_CERTS is not set: run through node scripts/with-sim-ca.mjs (npm run bench does)',
  );
  process.exit(2);
}

export interface RunResult {
  mode: 'rotator' | 'baseline';
  apps: number;
  dueApps: number;
  concurrency: number;
  exitCode: number | null;
  wallSeconds: number;
  peakRssMiB: number;
  summary: Record<string, number>;
  failedReasons: string[];
  requests: Record<string, number>;
  requestsByOp: Record<string, number>;
  throttled: Record<string, number>;
  graphRequests: number;
  graph429Percent: number;
  graphWrites: number;
  graphReadsPerScannedApp: number;
  emailsSent: number;
  distinctRecipients: number;
  lowerBoundSeconds: number;
  lowerBoundParts: ReturnType<typeof lowerBound>;
  wallOverLowerBound: number;
  /** When the log lines of the run's phases reached us (s after start), to see where the time goes. */
  phases: Record<string, number>;
}

interface ChildRun {
  exitCode: number | null;
  wallMs: number;
  maxRssKiB: number;
  stdout: string;
  phases: Record<string, number>;
}

// Peak RSS as the kernel counts it (getrusage ru_maxrss, KiB), reported by the child itself as it exits:
// exact, and no polling. It goes to stderr on a marker line, after the run's last log line.
const RSS_MARK = '@@bench-max-rss-kib=';
const RSS_PRELOAD =
  'data:text/javascript,' +
  encodeURIComponent(
    `process.on('exit', () => process.stderr.write('\\n${RSS_MARK}' + process.resourceUsage().maxRSS + '\\n'));`,
  );

/** Runs a Node program with the sim's env, timing it and recording when its phases' log lines appear. */
function runChild(nodeArgs: string[], env: Record<string, string>): Promise<ChildRun> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', RSS_PRELOAD, ...nodeArgs], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  const phases: Record<string, number> = {};
  let maxRssKiB = 0;
  let pending = '';
  const errTail: string[] = [];
  child.stderr.on('data', (d: Buffer) => {
    const at = (performance.now() - started) / 1000;
    pending += d.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith(RSS_MARK)) {
        maxRssKiB = Number(line.slice(RSS_MARK.length));
        continue;
      }
      const m = /^\[entra-secret-rotator\] (mail to [^:]+: sent|[a-z ]+?)(?: \{|$| \()/.exec(line);
      const msg = m?.[1]?.startsWith('mail to') ? 'mail sent' : m?.[1];
      if (msg) {
        phases[`first ${msg}`] ??= at;
        phases[`last ${msg}`] = at;
      }
      errTail.push(line);
      if (errTail.length > 20) errTail.shift();
    }
  });
  // A hung run must not hang CI: 20 minutes is far beyond the 50,000-app run on a slow machine.
  const watchdog = setTimeout(() => {
    process.stderr.write(`child still running after ${RUN_TIMEOUT_MS / 60_000} min: killing it\n`);
    child.kill('SIGKILL');
  }, RUN_TIMEOUT_MS);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(watchdog);
      const wallMs = performance.now() - started;
      if (code !== 0 && code !== 1) process.stderr.write(`child exited ${code}:\n${errTail.join('\n')}\n`);
      resolve({ exitCode: code, wallMs, maxRssKiB, stdout: Buffer.concat(out).toString('utf8'), phases });
    });
  });
}

function sum(o: Record<string, number>): number {
  return Object.values(o).reduce((a, b) => a + b, 0);
}

async function measure(
  mode: RunResult['mode'],
  apps: number,
  concurrency: number,
  sim: SimProcess,
): Promise<RunResult> {
  const env: Record<string, string> = {
    ...sim.ready.env,
    VERIFY_TIMEOUT_SECONDS: args['verify-timeout'],
    ROTATION_CONCURRENCY: String(concurrency),
  };
  const run =
    mode === 'rotator'
      ? await runChild([...nodeOptions, cli, 'rotate', '--json'], env)
      : await runChild(['--import', 'tsx', join(root, 'bench', 'baseline.ts')], env);
  const stats: SimStats = await sim.stats();
  const recipients = await sim.distinctRecipients();
  let report: { summary: Record<string, number>; apps: Array<{ action: string; reason?: string }> };
  try {
    report = JSON.parse(run.stdout) as typeof report;
  } catch {
    throw new Error(`the ${mode} run (exit ${run.exitCode}) printed no JSON report`);
  }

  const requests: Record<string, number> = {};
  const requestsByOp: Record<string, number> = {};
  for (const [service, ops] of Object.entries(stats.requests)) {
    for (const [op, byStatus] of Object.entries(ops)) {
      const n = sum(byStatus);
      requests[service] = (requests[service] ?? 0) + n;
      requestsByOp[op] = n;
    }
  }
  const graphRequests = requests.graph ?? 0;
  const graphReads = Object.entries(stats.requests.graph ?? {})
    .filter(([op]) => !/addPassword|removePassword/.test(op))
    .reduce((a, [, byStatus]) => a + sum(byStatus), 0);
  const rotated = report.summary.rotated ?? 0;
  // Requests one proof makes at Entra (metadata + token, as measured), for the chain.
  const entraPerProof = rotated ? Math.max(1, Math.round((requests.entra ?? 0) / rotated)) : 1;
  const lb = lowerBound({
    pages: Math.ceil(apps / PAGE_SIZE),
    latency: LATENCY,
    entraRequestsPerProof: entraPerProof,
    graphWrites: stats.graphWrites,
  });
  const wallSeconds = run.wallMs / 1000;
  return {
    mode,
    apps,
    dueApps: Math.round((apps * DUE_PERCENT) / 100),
    concurrency,
    exitCode: run.exitCode,
    wallSeconds: round(wallSeconds, 2),
    peakRssMiB: round(run.maxRssKiB / 1024, 1),
    summary: report.summary,
    failedReasons: [
      ...new Set(report.apps.filter((a) => a.action === 'failed').map((a) => a.reason ?? '')),
    ].slice(0, 5),
    requests,
    requestsByOp,
    throttled: stats.throttled,
    graphRequests,
    graph429Percent: round((100 * (stats.throttled.graph ?? 0)) / Math.max(1, graphRequests), 3),
    graphWrites: stats.graphWrites,
    graphReadsPerScannedApp: round(graphReads / Math.max(1, report.summary.scanned ?? apps), 4),
    emailsSent: stats.emailsSent,
    distinctRecipients: recipients,
    lowerBoundSeconds: round(lb.seconds, 2),
    lowerBoundParts: lb,
    wallOverLowerBound: round(wallSeconds / lb.seconds, 2),
    phases: Object.fromEntries(Object.entries(run.phases).map(([k, v]) => [k, round(v, 2)])),
  };
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

async function benchSize(mode: RunResult['mode'], apps: number, concurrency: number): Promise<RunResult> {
  process.stderr.write(`\n== ${mode}: ${apps} apps, ${DUE_PERCENT}% due, concurrency ${concurrency}\n`);
  const seedStarted = performance.now();
  const sim = await startSim(root, [
    '--seed',
    'large',
    '--apps',
    String(apps),
    '--due-percent',
    String(DUE_PERCENT),
    '--latency',
    Object.entries(LATENCY)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
  ]);
  try {
    process.stderr.write(`simulator ready in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s\n`);
    const r = await measure(mode, apps, concurrency, sim);
    process.stderr.write(
      `${mode} ${apps}: ${r.wallSeconds} s, exit ${r.exitCode}, ${JSON.stringify(r.summary)}, phases ${JSON.stringify(r.phases)}\n`,
    );
    return r;
  } finally {
    await sim.stop();
  }
}

/** From the last rotation to the last email: the notification step, which runs after every app is done. */
const notifySeconds = (r: RunResult) =>
  r.phases['last mail sent'] === undefined ? 0 : r.phases['last mail sent'] - (r.phases['last rotated'] ?? 0);

function table(results: RunResult[]): string {
  const cols: Array<[string, (r: RunResult) => string]> = [
    ['mode', (r) => r.mode],
    ['apps', (r) => String(r.apps)],
    ['conc', (r) => String(r.concurrency)],
    ['rotated', (r) => String(r.summary.rotated ?? 0)],
    ['failed', (r) => String(r.summary.failed ?? 0)],
    ['wall s', (r) => r.wallSeconds.toFixed(2)],
    ['LB s', (r) => r.lowerBoundSeconds.toFixed(2)],
    ['wall/LB', (r) => r.wallOverLowerBound.toFixed(2)],
    ['rotated by s', (r) => (r.phases['last rotated'] ?? 0).toFixed(1)],
    ['notify s', (r) => notifySeconds(r).toFixed(1)],
    ['graph', (r) => String(r.graphRequests)],
    ['entra', (r) => String(r.requests.entra ?? 0)],
    ['mi', (r) => String(r.requests.mi ?? 0)],
    ['kv', (r) => String(r.requests.keyvault ?? 0)],
    ['acs', (r) => String(r.requests.acs ?? 0)],
    ['429s', (r) => String(sum(r.throttled))],
    ['429 %graph', (r) => r.graph429Percent.toFixed(2)],
    ['writes', (r) => String(r.graphWrites)],
    ['emails', (r) => String(r.emailsSent)],
    ['recips', (r) => String(r.distinctRecipients)],
    ['RSS MiB', (r) => r.peakRssMiB.toFixed(1)],
    ['reads/app', (r) => r.graphReadsPerScannedApp.toFixed(4)],
  ];
  const rows = [cols.map(([h]) => h), ...results.map((r) => cols.map(([, f]) => f(r)))];
  const widths = cols.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((c, i) => c.padStart(widths[i]!)).join('  ')).join('\n');
}

interface Verdict {
  target: string;
  ok: boolean;
  detail: string;
}

function verdicts(results: RunResult[]): Verdict[] {
  const rot = results.filter((r) => r.mode === 'rotator');
  const at = (n: number) => rot.find((r) => r.apps === n);
  const out: Verdict[] = [];
  const tenK = at(10_000);
  if (tenK)
    out.push({
      target: 'wall <= 1.25 x lower bound at 10,000 apps',
      ok: tenK.wallOverLowerBound <= 1.25,
      detail: `${tenK.wallSeconds} s / ${tenK.lowerBoundSeconds} s = ${tenK.wallOverLowerBound}`,
    });
  for (const r of rot) {
    out.push({
      target: `0 failed rotations (${r.apps})`,
      ok: (r.summary.failed ?? 0) === 0 && r.summary.rotated === r.dueApps,
      detail: `${r.summary.failed ?? 0} failed, ${r.summary.rotated} of ${r.dueApps} due rotated`,
    });
    out.push({
      target: `429s <= 1% of Graph requests (${r.apps})`,
      ok: r.graph429Percent <= 1,
      detail: `${r.throttled.graph ?? 0} of ${r.graphRequests} (${r.graph429Percent}%)`,
    });
    out.push({
      target: `emails <= distinct recipients (${r.apps})`,
      ok: r.emailsSent <= r.distinctRecipients,
      detail: `${r.emailsSent} emails, ${r.distinctRecipients} recipients`,
    });
    out.push({
      target: `Graph reads per scanned app well below 1 (${r.apps})`,
      ok: r.graphReadsPerScannedApp < 0.25,
      detail: String(r.graphReadsPerScannedApp),
    });
  }
  const small = at(1_000);
  const big = at(50_000);
  if (small && big)
    out.push({
      target: 'peak RSS at 50,000 <= 1.3 x peak RSS at 1,000',
      ok: big.peakRssMiB <= 1.3 * small.peakRssMiB,
      detail: `${big.peakRssMiB} MiB / ${small.peakRssMiB} MiB = ${round(big.peakRssMiB / small.peakRssMiB, 2)}`,
    });
  return out;
}

const concurrency = Number(args.concurrency);
const nodeOptions = args['rotator-node-options'].split(' ').filter(Boolean);
const results: RunResult[] = [];
for (const n of sizes) results.push(await benchSize('rotator', n, concurrency));
let speedup: number | undefined;
let rotationSpeedup: number | undefined;
if (baseline) {
  const n = Number(args['baseline-size']);
  const b = await benchSize('baseline', n, 1);
  results.push(b);
  const same = results.find((r) => r.mode === 'rotator' && r.apps === n);
  if (same) {
    speedup = round(b.wallSeconds / same.wallSeconds, 1);
    const rotationPhase = (r: RunResult) => r.phases['last rotated'] ?? r.wallSeconds;
    rotationSpeedup = round(rotationPhase(b) / rotationPhase(same), 1);
  }
}

const checks = verdicts(results);
const doc = {
  generatedAt: new Date().toISOString(),
  machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
  latencyMs: LATENCY,
  rotatorNodeOptions: nodeOptions,
  duePercent: DUE_PERCENT,
  writeBudget: `3,000 writes per 150 s per app+tenant pair, taken as a rate of ${WRITES_PER_SECOND} writes/s`,
  baseline:
    'bench/baseline.ts: the same adapters, one app at a time, a Key Vault read for every app, owners one app per request',
  results,
  speedup,
  rotationSpeedup,
  checks,
};
writeFileSync(args.out, `${JSON.stringify(doc, null, 2)}\n`);

console.log(`\n${table(results)}\n`);
if (speedup !== undefined)
  console.log(
    `speed-up over the sequential baseline at ${args['baseline-size']} apps: ${speedup}x end to end, ` +
      `${rotationSpeedup}x until the last rotation`,
  );
for (const c of checks) console.log(`${c.ok ? 'ok  ' : 'MISS'} ${c.target}: ${c.detail}`);
console.log(`\nwrote ${args.out}`);
// The smoke run (CI) fails on a broken rotation, not on timings: those depend on the machine.
const broken = results.some((r) => r.mode === 'rotator' && (r.exitCode !== 0 || (r.summary.failed ?? 0) > 0));
process.exitCode = broken ? 1 : 0;
