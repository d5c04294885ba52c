// How a run shares its apps with queue workers, and the run table that lets the last worker send the run's digest
// once. The strategies (inline, time budget, fan-out, queue worker) are what each trigger passes to runOnce.
import { RunTable, type RunRow } from './azure/runs.js';
import { WorkQueue, type WorkMessage } from './azure/queue.js';
import { describeError } from './errors.js';
import { notifyOwners, type NotifyOptions } from './notify/notify.js';
import { recoverNotices } from './notify/recover.js';
import type { AppView } from './rotation/checks.js';
import type { RunContext, RunDeps } from './rotation/context.js';
import { RunAbortedError, type HandOff, type RunResult } from './rotation/engine.js';
import { resolveApp } from './rotation/gather.js';
import { policyFor } from './rotation/policy.js';
import { gaveUpEntry, type ChangedApp } from './rotation/reconcile.js';
import { summarize, type AppReport, type Report } from './rotation/report.js';

export type Trigger = 'cli' | 'http' | 'timer' | 'worker';

const queuedReason = (runId: string) => `queued for a worker (run ${runId})`;

/** A claimed digest whose sender vanished may be claimed again after this (sends are idempotent per run+recipient). */
const DIGEST_CLAIM_MS = 10 * 60_000;

/** One run's side of a strategy: the engine's hand-off, what it queued, and the run's last step. */
export interface HandOffRun {
  handOff?: HandOff;
  queued: WorkMessage[];
  /** Apps found due (fan-out only). */
  due?: number;
  /** The queue worker: this app's entry already recorded for the run (a redelivered message). */
  previous?: AppReport;
  /** The work is done already (a redelivered message of a rotated app): the engine is not run. */
  skipEngine?: boolean;
  /** After the engine (without a result when it was skipped), in a real run: notify, record, or queue. */
  finish(result: RunResult | undefined): Promise<void>;
  /** The run's time budget, for its proofs (see RunContext.budget). */
  budget?: RunContext['budget'];
  /** The queue worker: what the run that queued the app allowed, which the message cannot widen. */
  allowed?: Pick<RunContext, 'force' | 'revokeSuperseded'>;
}

/** How a trigger hands work on: built once per run from the run's context. */
export type HandOffPlan = (
  ctx: RunContext,
  trigger: Trigger,
  mailer?: NotifyOptions['mailer'],
) => Promise<HandOffRun>;

const message = (ctx: RunContext, app: AppView): WorkMessage => ({
  runId: ctx.runId,
  appId: app.appId.toLowerCase(),
  force: ctx.force,
  ...(ctx.revokeSuperseded ? { revokeSuperseded: true } : {}),
});

/** The end of a run that may have queued apps: fan out, or tell the owners now and record the run. */
function finishRun(
  ctx: RunContext,
  trigger: Trigger,
  queued: WorkMessage[],
  mailer?: NotifyOptions['mailer'],
) {
  return async (result: RunResult | undefined) => {
    if (!result) return;
    // Notices owed by runs that died before telling are held first, so this run's digest sends them.
    await recoverNotices(
      ctx,
      result,
      queued.map((m) => m.appId),
    );
    if (queued.length) return fanOut(ctx, trigger, result, queued);
    await notifyRun(ctx, result, mailer, remindsUnmanaged(trigger, result.wholeScope));
    if (trigger !== 'cli') await recordInlineRun(ctx, trigger, result);
  };
}

/** Every app is reconciled in this run (the CLI; any trigger without queue storage). */
export const inline: HandOffPlan = async (ctx, trigger, mailer) => ({
  queued: [],
  finish: finishRun(ctx, trigger, [], mailer),
});

/**
 * POST /api/rotate, which must answer within the front end's 230 s: after `budgetMs` no reconciliation starts, no
 * proof waits past it (a proof still waiting for replication then is cut, its credential removed), and the apps
 * not reached or cut are queued for workers.
 */
export const timeBudget =
  (budgetMs: number): HandOffPlan =>
  async (ctx, trigger, mailer) => {
    if (!ctx.settings.storage) return inline(ctx, trigger, mailer); // without a queue the run simply goes on
    const deadline = new Date(ctx.clock.now().getTime() + budgetMs);
    const queued: WorkMessage[] = [];
    const requeue = (app: AppView) => {
      queued.push(message(ctx, app));
      return queuedReason(ctx.runId);
    };
    const handOff: HandOff = {
      offer: async (app) =>
        ctx.clock.now().getTime() < deadline.getTime() ? 'now' : { handedOff: requeue(app) },
    };
    return {
      handOff,
      queued,
      budget: { deadline, requeue },
      finish: finishRun(ctx, trigger, queued, mailer),
    };
  };

/**
 * The timer: up to `inlineMax` due apps are rotated right here, since a handful of rotations finish well within the
 * function timeout and a queue round trip would only add latency; beyond that every due app is fanned out, one
 * queue message each, so that many workers prove and store secrets in parallel. Apps that need other work
 * (retiring, sweeping) are reconciled here either way. Due apps wait until the listing is done, when their number
 * is known; at most inlineMax + 1 of them are held.
 */
export const fanOutBeyond =
  (inlineMax: number): HandOffPlan =>
  async (ctx, trigger, mailer) => {
    // Without AzureWebJobsStorage there is no queue (never the case under the host): then everything runs here.
    if (!ctx.settings.storage) return inline(ctx, trigger, mailer);
    const queued: WorkMessage[] = [];
    const run: HandOffRun = { queued, due: 0, finish: finishRun(ctx, trigger, queued, mailer) };
    const reason = queuedReason(ctx.runId);
    run.handOff = {
      offer: async (app, preview) => {
        if ((await preview()).action !== 'rotate') return 'now';
        if (++run.due! <= inlineMax) return 'later';
        queued.push(message(ctx, app));
        return { handedOff: reason };
      },
      afterListing: (later) => {
        if (run.due! <= inlineMax) return undefined;
        queued.push(...later.map((app) => message(ctx, app)));
        return reason;
      },
    };
    return run;
  };

/**
 * The queue worker: one app of a fanned-out run, recorded in the run table; the worker that completes the run sends
 * its digest. A rotation already recorded for the run is not repeated (duplicate deliveries are harmless).
 */
export const fromQueue =
  (appId: string): HandOffPlan =>
  async (ctx) => {
    const runs = new RunTable(ctx.settings.storage!, ctx.services.credential, undefined, {
      clock: ctx.clock,
    });
    const run = await runs.getRun(ctx.runId);
    if (await refusedMessage(ctx, runs, run, appId))
      return { queued: [], skipEngine: true, finish: async () => {} };
    const previous = (await runs.getApp(ctx.runId, appId))?.report;
    return {
      queued: [],
      previous,
      // A message without its run row (put there by hand) rotates only what is due and revokes nothing.
      allowed: {
        force: ctx.force && run?.force === true,
        revokeSuperseded: ctx.revokeSuperseded && run?.revokeSuperseded === true,
      },
      skipEngine: previous?.action === 'rotated',
      finish: async (result) => {
        if (result) await runs.recordApp(ctx.runId, 'worker', result.report.apps[0]!, result.changed[0]);
        if (run) await finishRunIfComplete(ctx, runs, ctx.runId);
        // A message without its run row (put there by hand, or the table was cleared): nobody else will send a
        // digest for it, so tell this app's owners now.
        else if (result) await notifyRun(ctx, result);
      },
    };
  };

/**
 * A queue message is an input like any other (issue 13): one naming a run that did not queue its app is refused
 * and logged, so it neither completes that run nor emails anyone. A message without a run row is not refused here:
 * the worker still checks the app's scope before acting (resolveTarget).
 */
async function refusedMessage(
  deps: RunDeps,
  runs: RunTable,
  run: RunRow | undefined,
  appId: string,
): Promise<boolean> {
  if (!run || (await runs.wasQueued(run.runId, appId))) return false;
  deps.log('queue message refused: the run did not queue this app', { runId: run.runId, appId });
  return true;
}

/**
 * The poison queue: an app the worker failed on until the host gave up is recorded as failed in its run, so it is
 * reported rather than lost, its owners learn of it in the run's digest, and the run can complete. Returns the
 * action recorded (a rotation recorded earlier stays).
 */
export async function recordGaveUp(
  deps: RunDeps,
  runId: string,
  appId: string,
  dequeueCount: number | undefined,
): Promise<AppReport['action'] | 'refused'> {
  const runs = new RunTable(deps.settings.storage!, deps.services.credential, undefined, {
    clock: deps.clock,
  });
  const run = await runs.getRun(runId);
  if (!run) {
    deps.log('poison message refused: no such run', { runId, appId });
    return 'refused';
  }
  if (await refusedMessage(deps, runs, run, appId)) return 'refused';
  const reason =
    `the queue worker failed on this app ${dequeueCount !== undefined ? `${dequeueCount} times` : 'repeatedly'}` +
    ' and gave up; see the rotateWorker logs for the error. The next scheduled run tries again';
  let report = gaveUpEntry({ appId, displayName: '' }, reason);
  let changed: ChangedApp | undefined;
  try {
    // Best effort: with the app's names and tag recipients, its owners are told in the digest.
    const found = await resolveApp(deps, appId);
    const view = 'app' in found ? found.app : undefined;
    // An app outside the scope now is recorded, but its owners are not told (the message is all that names it).
    if (view && !('missing' in found)) {
      report = gaveUpEntry({ appId, displayName: view.displayName }, reason);
      const policy = policyFor(view, deps.settings);
      changed = { app: view, report, notify: policy.ok ? policy.policy.notify : [] };
    }
  } catch (err) {
    deps.log('could not read the app for its failure notice', { appId, error: describeError(err) });
  }
  const row = await runs.recordApp(runId, 'poison', report, changed);
  await finishRunIfComplete(deps, runs, runId);
  return row.report.action;
}

/**
 * REMIND_UNMANAGED reminders go to every owner in the tenant, so only the rotator's own runs over the whole scope
 * (timer, CLI) send them: an HTTP caller cannot make the rotator mail the tenant at will (issue 13).
 */
const remindsUnmanaged = (trigger: Trigger, wholeScope: boolean) => wholeScope && trigger !== 'http';

/**
 * The notification step of a run, for every trigger: emails the owners of what changed, fills `notified`, and
 * adds the step's notes to the report. Reminders go out only when `reminders` (default: whole-scope runs).
 */
async function notifyRun(
  deps: RunDeps,
  result: RunResult,
  mailer?: NotifyOptions['mailer'],
  reminders = result.wholeScope,
): Promise<string[]> {
  const notes = await notifyOwners(deps, result.report, result.changed, {
    fullRun: reminders,
    mailer,
  }).catch((err: unknown) => [`notifications failed: ${describeError(err)}`]);
  // Run-level notes are said once, in the report (the CLI prints them under its table or in the JSON, the
  // HTTP functions return them, the timer logs them), not also in the progress log.
  if (notes.length) result.report.notes = [...(result.report.notes ?? []), ...notes];
  return notes;
}

/**
 * A run cut short (Graph broke off the listing) still tells the owners of what it rotated before it stopped. No
 * reminders: the scope was not all seen. Anything but a RunAbortedError is left alone.
 */
export async function notifyCutShort(
  deps: RunDeps,
  err: unknown,
  mailer?: NotifyOptions['mailer'],
): Promise<void> {
  if (!(err instanceof RunAbortedError)) return;
  const { partial } = err;
  if (partial.report.dryRun || partial.changed.length === 0) return;
  await notifyRun(deps, { ...partial, wholeScope: false }, mailer);
}

/**
 * Records a run that handed apps to workers, then queues them. The run row and the inline results are written
 * first, so the last worker always finds everything the digest must cover.
 */
export async function fanOut(
  deps: RunDeps,
  trigger: Trigger,
  result: RunResult,
  queued: readonly WorkMessage[],
): Promise<void> {
  const storage = deps.settings.storage!;
  const runs = new RunTable(storage, deps.services.credential, undefined, { clock: deps.clock });
  const { report } = result;
  await runs.createRun({
    runId: report.runId,
    trigger: trigger === 'timer' ? 'timer' : 'http',
    wholeScope: result.wholeScope,
    startedAt: report.startedAt,
    scanned: report.summary.scanned,
    queued: queued.length,
    rotatedInline: report.summary.rotated,
    failedInline: report.summary.failed,
    requestedBy: report.requestedBy,
    force: queued.some((m) => m.force),
    revokeSuperseded: queued.some((m) => m.revokeSuperseded),
  });
  for (const c of result.changed) await runs.recordApp(report.runId, 'inline', c.report, c);
  await runs.recordQueued(
    report.runId,
    queued.map((m) => m.appId),
  );
  try {
    await new WorkQueue(storage, deps.services.credential).enqueue(queued);
  } catch (err) {
    // The run cannot complete through the workers now: tell the owners of what did change here, then fail the
    // invocation (the queued apps were not touched; the next run picks them up).
    await notifyRun(deps, result, undefined, remindsUnmanaged(trigger, result.wholeScope));
    throw err;
  }
  const note =
    `${queued.length} app(s) were queued for workers; owners are emailed once the last one is done ` +
    `(GET /api/runs/${report.runId} shows progress)`;
  report.notes = [...(report.notes ?? []), note];
}

/** Writes the row of a run that finished inline, so GET /api/runs/{runId} knows it too (best effort). */
async function recordInlineRun(deps: RunDeps, trigger: Trigger, result: RunResult): Promise<void> {
  if (!deps.settings.storage) return;
  const { report } = result;
  // Only a record for GET /api/runs: the run itself is done and its owners told, so a storage hiccup here must not
  // turn a successful run into an error.
  await new RunTable(deps.settings.storage, deps.services.credential, undefined, { clock: deps.clock })
    .createRun({
      runId: report.runId,
      trigger: trigger === 'timer' ? 'timer' : 'http',
      wholeScope: result.wholeScope,
      startedAt: report.startedAt,
      scanned: report.summary.scanned,
      queued: 0,
      rotatedInline: report.summary.rotated,
      failedInline: report.summary.failed,
      digestSentAt: deps.clock.now().toISOString(),
      digestNotes: report.notes,
      requestedBy: report.requestedBy,
    })
    .catch((err: unknown) =>
      deps.log('could not record the run in the run table', { error: describeError(err) }),
    );
}

/**
 * When every queued app of the run has a worker (or poison) row, sends the run's digest: once, because the run row
 * is claimed with its ETag first. Returns the notes, or undefined when the run is not complete or someone else sends.
 */
async function finishRunIfComplete(
  deps: RunDeps,
  runs: RunTable,
  runId: string,
): Promise<string[] | undefined> {
  const now = () => deps.clock.now();
  const run = await runs.getRun(runId);
  if (!run || run.digestSentAt) return undefined;
  if (run.digestClaimedAt && now().getTime() - Date.parse(run.digestClaimedAt) < DIGEST_CLAIM_MS)
    return undefined;
  // The counter says when it can be complete; the rows themselves decide (and make the digest).
  if (run.completed !== undefined && run.completed < run.queued) return undefined;
  const rows = await runs.listApps(runId);
  if (rows.filter((r) => r.source !== 'inline').length < run.queued) return undefined;
  if (!(await runs.updateRun(run, { digestClaimedAt: now().toISOString() }))) return undefined;

  const apps = rows.map((r) => r.report);
  const report: Report = {
    runId,
    startedAt: run.startedAt,
    finishedAt: now().toISOString(),
    dryRun: false,
    apps,
    summary: summarize(apps),
  };
  const changed = rows.flatMap((r) => (r.changed ? [{ ...r.changed, report: r.report }] : []));
  const fullRun = remindsUnmanaged(run.trigger, run.wholeScope);
  const notes = await notifyOwners(deps, report, changed, { fullRun }).catch((err: unknown) => [
    `notifications failed: ${describeError(err)}`,
  ]);
  const fresh = await runs.getRun(runId);
  if (fresh) await runs.updateRun(fresh, { digestSentAt: now().toISOString(), digestNotes: notes });
  deps.log('run complete', {
    runId,
    apps: apps.length,
    rotated: report.summary.rotated,
    failed: report.summary.failed,
    notes,
  });
  return notes;
}
