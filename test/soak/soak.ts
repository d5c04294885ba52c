// A simulated year (issue 17): every simulated day the cloud's clock moves one day, people change the tenant, the
// day's faults are drawn, the real product makes its timer run (killed between two steps on some days, joined by a
// second run on others), and the invariants are checked against the simulator's state.
import { loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Settings } from '../../src/settings.js';
import { Emitted, expireLocks } from '../reliability/harness.js';
import { SimClock } from '../sim/clock.js';
import { startSimCloud, type SimCloud } from '../sim/cloud.js';
import { emptyTally, scheduleFaults, tallyDay, type DayFaults } from './faults.js';
import { Checker, describeViolation, type Violation } from './invariants.js';
import { fastClock, httpRun, timerRun, type RunOutcome } from './product.js';
import { LeakIndex } from './leaks.js';
import { Rng } from './rng.js';
import { collapseSdkWaits } from './sdk-waits.js';
import { applyEvents, createTenant, DAY, supportsNoServicePrincipal, type Shape } from './tenant.js';

export interface SoakOptions {
  days: number;
  apps: number;
  seed: number;
  /** Azurite connection string (locks, queues, tables, blobs). */
  storage: string;
  /** Kill runs between steps (a worker thread per kill); default true. */
  crashes?: boolean;
  /** Draw only these shapes (weights), e.g. rotator-managed apps for a broken variant that retires too early. */
  shapes?: Partial<Record<Shape, number>>;
  /** A deliberately broken product (settings changed the way a bug would). */
  breakSettings?: (s: Settings) => Settings;
  /** Progress lines (one per simulated month). */
  progress?: (line: string) => void;
}

export interface SoakSummary {
  days: number;
  apps: number;
  seed: number;
  rotations: number;
  faults: { total: number; hit: number; byKind: Record<string, { injected: number; hit: number }> };
  invariantChecks: number;
  violations: number;
  violationsByInvariant: Record<string, number>;
  firstViolations: string[];
  worstOverlapDays: number | null;
  maxRotatorCredentialsPerApp: number;
  emails: { sent: number; throttled429: number; rotations: number };
  maxStateBytes: number;
  /** The pending store's notices at their most: their size as plain JSON (the store holds them gzipped, so this may
   *  exceed Key Vault's 25 KB; maxStateBytes is what is stored) and their count. */
  pendingStore: { maxPlainBytes: number; maxNotices: number };
  tenant: {
    appsAtEnd: number;
    added: number;
    deleted: number;
    shapes: Record<string, number>;
    noServicePrincipalShape: boolean;
  };
  /** Daily runs; `failed`: a run whose handler threw (a killed run is counted as killed, not failed). */
  runs: { timer: number; concurrent: number; killed: number; failed: number };
  /** The SDKs' own retry and poll waits, taken on the cloud's clock instead of the wall clock (sdk-waits.ts). */
  sdkWaits: { count: number; simulatedSeconds: number };
  wallSeconds: number;
  /** The machine's 1-minute load average, sampled once a simulated day (the wall time depends on it). */
  loadAverage: { min: number; mean: number; max: number };
}

const NOTIFY_ALSO = 'secops@contoso.com';
/** Replication delays of minutes (the proof waits on the run's clock, so they cost no real minutes);
 *  SOAK_SLOW_REPLICATION=0 leaves them out. */
const SLOW_REPLICATION = process.env.SOAK_SLOW_REPLICATION !== '0';
const RETIRE_AFTER_DAYS = 7;
const RENEW_BEFORE_DAYS = 30;

/**
 * One soak per process: @azure/identity (msal-node) keeps the first managed-identity endpoint it found in a static
 * field, so a second soak's product would ask the first cloud's endpoint, closed by then, and every run would fail
 * before any change (which is why the broken variant once showed nothing when it ran after the suite's month in the
 * same test file). Each soak test file runs in its own process (vitest pool: forks).
 */
let soakStarted = false;

export async function runSoak(opts: SoakOptions): Promise<{ summary: SoakSummary; violations: Violation[] }> {
  const wallStart = Date.now();
  const rng = new Rng(opts.seed);
  if (soakStarted) throw new Error('runSoak: one soak per process (see soakStarted)');
  soakStarted = true;
  const clock = new SimClock();
  // A custom email domain's documented limits (30 a minute, 100 an hour): an Azure-managed domain's 5 and 10 cannot
  // carry a few hundred apps' notices, and the deployment guide says so.
  const cloud = await startSimCloud({ clock, acsDomainKind: 'custom' });
  const env: Record<string, string> = {
    ...cloud.env,
    AzureWebJobsStorage: opts.storage,
    NOTIFY_ALSO,
    RETIRE_AFTER_DAYS: String(RETIRE_AFTER_DAYS),
    RENEW_BEFORE_DAYS: String(RENEW_BEFORE_DAYS),
    LOCK_WAIT_SECONDS: '1',
    // Debugging knob only: a shorter proof wait while the product still waits in real time.
    ...(process.env.SOAK_VERIFY_TIMEOUT_SECONDS
      ? { VERIFY_TIMEOUT_SECONDS: process.env.SOAK_VERIFY_TIMEOUT_SECONDS }
      : {}),
  };
  for (const k of ['AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_TENANT_ID']) delete process.env[k];
  Object.assign(process.env, env);
  const productClock = fastClock(clock);
  const sdkWaits = collapseSdkWaits((ms) => clock.advance(ms));
  const crashes = opts.crashes ?? true;
  let standby: Promise<Worker> | undefined = crashes ? startWorker() : undefined;

  try {
    const model = createTenant(cloud, rng, opts.apps, opts.shapes);
    const checker = new Checker(cloud, model, {
      retireAfterDays: RETIRE_AFTER_DAYS,
      renewBeforeDays: RENEW_BEFORE_DAYS,
      notifyAlso: [NOTIFY_ALSO],
      toldWithinDays: 3,
      maxStateBytes: 25 * 1024,
    });
    const tally = emptyTally();
    const runs = { timer: 0, concurrent: 0, killed: 0, failed: 0 };
    let added = 0;
    let deleted = 0;
    const t0 = clock.nowMs();
    const policyDay = Math.floor(opts.days / 2);
    let yesterday: DayFaults | undefined;
    const leakIndex = new LeakIndex();
    let reported = 0;
    const loads: number[] = [];

    for (let day = 0; day < opts.days; day++) {
      clock.set(t0 + day * DAY);
      if (day > 0) {
        const ev = applyEvents(cloud, rng, model, day, policyDay);
        added += ev.added;
        deleted += ev.deleted;
      }
      checker.beforeRun(day);
      const dayStart = Date.now();
      const dayCpu = process.cpuUsage();
      const faults = scheduleFaults(cloud, rng, { crashes, slowReplication: SLOW_REPLICATION }, yesterday);
      if (faults.replicationDelayMs) cloud.tenant.replicationDelayMs = faults.replicationDelayMs;
      const emitted = new Emitted();
      const emit = (where: string, text: string) => emitted.add(`day ${day} ${where}`, text);
      const mailFrom = cloud.mail.messages.length;
      const outcomes: RunOutcome[] = [];
      let killed = false;
      const product = (label: string) => ({
        env,
        clock: productClock,
        emit,
        label,
        breakSettings: opts.breakSettings,
        callerToken: () => cloud.callerToken({ roles: ['Rotation.Rotate'], name: 'Soak operator' }),
      });

      if (faults.crashAfter && standby) {
        const worker = await standby;
        standby = startWorker();
        const outcome = await crashRun(cloud, worker, faults.crashAfter, env, emit);
        killed = outcome.killed;
        if (outcome.outcome) outcomes.push(outcome.outcome);
        runs.killed += killed ? 1 : 0;
      } else if (faults.concurrent) {
        outcomes.push(
          ...(await Promise.all([timerRun(product('timer')), httpRun(product('POST /api/rotate'))])),
        );
        runs.concurrent++;
      } else {
        outcomes.push(await timerRun(product('timer')));
      }
      runs.timer++;
      loads.push(loadavg()[0]!);
      runs.failed += outcomes.filter((o) => !o.finished).length;
      const ranMs = Date.now() - dayStart;
      cloud.faults.clear();
      cloud.tenant.replicationDelayMs = 0;
      // A killed run's blob leases lapse within a minute; a day passes before the next run, so break them now.
      if (killed) await expireLocks(opts.storage, cloud);

      emitted.addMail(cloud, mailFrom);
      emitted.addRequestUrls(cloud, 0);
      checker.addPasswordCalls(
        day,
        cloud.log.entries.filter((e) => e.op === 'graph.addPassword').map((e) => e.path),
      );
      const requests = cloud.log.entries.map((e) => e.op);
      cloud.log.clear();
      if (day % 30 === 29 || day === opts.days - 1) await emitted.addStorage(cloud, opts.storage);
      checker.afterRun(day, outcomes, faults.outage || killed, killed);
      leakIndex.addSecrets(cloud.issuedSecrets());
      checker.leaks(day, leakIndex.scan(emitted.entries));
      tallyDay(tally, faults, killed);
      // Each violation as it is found (the summary keeps only the first ten).
      for (const v of checker.violations.slice(reported))
        opts.progress?.(`VIOLATION ${describeViolation(v)}`);
      reported = checker.violations.length;
      if (process.env.SOAK_DEBUG)
        process.stderr.write(
          `day ${day}: run ${ranMs} ms, checks ${Date.now() - dayStart - ranMs} ms, cpu ${Math.round((process.cpuUsage(dayCpu).user + process.cpuUsage(dayCpu).system) / 1000)} ms, faults ${faults.rules.map((r) => `${r.kind}${r.rule.hits ? '*' : ''}`).join(' ')}${faults.concurrent ? ' concurrent' : ''}${faults.crashAfter ? ` crash@${faults.crashAfter}` : ''}${faults.replicationDelayMs ? ' slow-replication' : ''} ops ${JSON.stringify(opsOf(requests))}\n`,
        );
      yesterday = faults;
      if (day % 30 === 29 || process.env.SOAK_PROGRESS_EVERY_DAY)
        opts.progress?.(
          `day ${day + 1}: ${checker.rotations} rotations, ` +
            `${Object.values(tally).reduce((n, v) => n + v.injected, 0)} faults, ${checker.checks} checks, ` +
            `${checker.violations.length} violations ${JSON.stringify(countBy(checker.violations))}, ` +
            `${Math.round((Date.now() - wallStart) / 1000)} s`,
        );
    }

    const byKind = Object.fromEntries(Object.entries(tally).filter(([, v]) => v.injected > 0));
    const violationsByInvariant = countBy(checker.violations);
    const shapes: Record<string, number> = {};
    for (const a of model.apps.values()) shapes[a.shape] = (shapes[a.shape] ?? 0) + 1;
    const mail = checker.mailStats();
    const summary: SoakSummary = {
      days: opts.days,
      apps: opts.apps,
      seed: opts.seed,
      rotations: checker.rotations,
      faults: {
        total: Object.values(tally).reduce((s, v) => s + v.injected, 0),
        hit: Object.values(tally).reduce((s, v) => s + v.hit, 0),
        byKind,
      },
      invariantChecks: checker.checks,
      violations: checker.violations.length,
      violationsByInvariant,
      firstViolations: checker.violations.slice(0, 10).map(describeViolation),
      worstOverlapDays: Number.isFinite(checker.worstOverlapDays) ? checker.worstOverlapDays : null,
      maxRotatorCredentialsPerApp: checker.maxRotatorCredentials,
      emails: { sent: mail.sent, throttled429: mail.throttled, rotations: checker.rotations },
      maxStateBytes: checker.maxStateBytes,
      pendingStore: { maxPlainBytes: checker.maxPendingPlainBytes, maxNotices: checker.maxPendingNotices },
      tenant: {
        appsAtEnd: cloud.tenant.applications.size,
        added,
        deleted,
        shapes,
        noServicePrincipalShape: supportsNoServicePrincipal(cloud),
      },
      runs,
      sdkWaits: { count: sdkWaits.count, simulatedSeconds: Math.round(sdkWaits.totalMs / 1000) },
      wallSeconds: Math.round((Date.now() - wallStart) / 100) / 10,
      loadAverage: {
        min: round1(Math.min(...loads)),
        mean: round1(loads.reduce((a, b) => a + b, 0) / loads.length),
        max: round1(Math.max(...loads)),
      },
    };
    return { summary, violations: checker.violations };
  } finally {
    sdkWaits.restore();
    await standby?.then((w) => w.terminate()).catch(() => undefined);
    await cloud.stop();
  }
}

/** A worker thread with the product loaded, waiting for its run (started ahead, so a kill day does not wait). */
function startWorker(): Promise<Worker> {
  const worker = new Worker(new URL('./crash-worker.mjs', import.meta.url));
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (m: { type: string }) =>
      m.type === 'ready' ? resolve(worker) : reject(new Error(m.type)),
    );
  });
}

/** The day's run in the worker, killed right after `step` commits (if the run gets there). */
async function crashRun(
  cloud: SimCloud,
  worker: Worker,
  step: string,
  env: Record<string, string>,
  emit: (where: string, text: string) => void,
): Promise<{ killed: boolean; outcome?: RunOutcome }> {
  let killed = false;
  cloud.faults.add({
    op: step,
    kind: 'commitThenHang',
    times: 1,
    onCommitted: () => {
      killed = true;
      void worker.terminate();
    },
  });
  return new Promise((resolve) => {
    let outcome: RunOutcome | undefined;
    type Message = { type: string; where?: string; text?: string; outcome?: RunOutcome; ms?: number };
    worker.on('message', (m: Message) => {
      if (m.type === 'advance') cloud.clock.advance(Math.max(0, m.ms ?? 0));
      if (m.type === 'emit') emit(`killed-run ${m.where}`, m.text ?? '');
      if (m.type === 'done') {
        outcome = m.outcome;
        void worker.terminate();
      }
    });
    worker.once('exit', () => resolve({ killed, outcome: killed ? undefined : outcome }));
    worker.postMessage({ env, skewMs: cloud.clock.skewMs(), label: 'timer' });
  });
}

function opsOf(ops: string[]): Record<string, number> {
  const n: Record<string, number> = {};
  for (const op of ops) n[op] = (n[op] ?? 0) + 1;
  return n;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

function countBy(violations: Violation[]): Record<string, number> {
  const n: Record<string, number> = {};
  for (const v of violations) n[v.invariant] = (n[v.invariant] ?? 0) + 1;
  return n;
}
