// What the triggers share: runs that hand apps to queue workers, the run table, and the digest sent once when a
// fanned-out run's last app is done. Kept out of src/functions/*.ts so that each trigger file stays thin (and the
// host's `dist/src/functions/*.js` glob loads only triggers).
import type { InvocationContext } from '@azure/functions';
import { WorkQueue, type WorkMessage } from '../../azure/queue.js';
import { RunTable } from '../../azure/runs.js';
import { describeError } from '../../errors.js';
import { notifyOwners } from '../../notify/notify.js';
import { notifyRun } from '../../run.js';
import type { Logger, RunResult, Services } from '../../rotation/engine.js';
import { summarize, type Report } from '../../rotation/report.js';
import { parseWholeNumber, SettingsError, type Settings } from '../../settings.js';

export const queuedReason = (runId: string) => `queued for a worker (run ${runId})`;

/** A claimed digest whose sender vanished may be claimed again after this (sends are idempotent per run+recipient). */
const DIGEST_CLAIM_MS = 10 * 60_000;

export interface Tuning {
  /** The timer rotates at most this many due apps itself; more are fanned out to the queue. */
  inlineMax: number;
  /** POST /api/rotate stops starting rotations after this long and queues the rest (HTTP answers within 230 s). */
  httpBudgetMs: number;
}

function wholeNumber(env: Record<string, string | undefined>, name: string, fallback: number, max: number) {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const n = parseWholeNumber(raw);
  if (n === undefined || n > max)
    throw new SettingsError(
      name,
      `Setting ${name} ${JSON.stringify(raw)} is invalid. Use a whole number from 0 to ${max}.`,
    );
  return n;
}

export function loadTuning(env: Record<string, string | undefined>): Tuning {
  return {
    inlineMax: wholeNumber(env, 'ROTATION_INLINE_MAX', 10, 10_000),
    httpBudgetMs: wholeNumber(env, 'HTTP_TIME_BUDGET_SECONDS', 200, 220) * 1000,
  };
}

/** Engine log lines through the invocation's logger, one JSON object per line. */
export function contextLogger(context: InvocationContext): Logger {
  return (msg, fields) => context.log(JSON.stringify({ msg, ...fields }));
}

/**
 * Records a run that handed apps to workers, then queues them. The run row and the inline results are written
 * first, so the last worker always finds everything the digest must cover.
 */
export async function fanOut(
  settings: Settings,
  services: Services,
  trigger: 'timer' | 'http',
  result: RunResult,
  queued: readonly WorkMessage[],
  scanned = result.report.summary.scanned,
): Promise<void> {
  const storage = settings.storage!;
  const runs = new RunTable(storage, services.credential);
  const { report } = result;
  await runs.createRun({
    runId: report.runId,
    trigger,
    wholeScope: result.wholeScope,
    startedAt: report.startedAt,
    scanned,
    queued: queued.length,
    rotatedInline: report.summary.rotated,
    failedInline: report.summary.failed,
  });
  for (const c of result.changed) await runs.recordApp(report.runId, 'inline', c.report, c);
  try {
    await new WorkQueue(storage, services.credential).enqueue(queued);
  } catch (err) {
    // The run cannot complete through the workers now: tell the owners of what did change here, then fail the
    // invocation (the queued apps were not touched; the next run picks them up).
    await notifyRun(settings, services, result);
    throw err;
  }
  const note =
    `${queued.length} app(s) were queued for workers; owners are emailed once the last one is done ` +
    `(GET /api/runs/${report.runId} shows progress)`;
  report.notes = [...(report.notes ?? []), note];
}

/** Writes the row of a run that finished inline, so GET /api/runs/{runId} knows it too (best effort). */
export async function recordInlineRun(
  settings: Settings,
  services: Services,
  trigger: 'timer' | 'http',
  result: RunResult,
  log: Logger,
): Promise<void> {
  if (!settings.storage) return;
  const { report } = result;
  // Only a record for GET /api/runs: the run itself is done and its owners told, so a storage hiccup here must not
  // turn a successful run into an error.
  await new RunTable(settings.storage, services.credential)
    .createRun({
      runId: report.runId,
      trigger,
      wholeScope: result.wholeScope,
      startedAt: report.startedAt,
      scanned: report.summary.scanned,
      queued: 0,
      rotatedInline: report.summary.rotated,
      failedInline: report.summary.failed,
      digestSentAt: new Date().toISOString(),
      digestNotes: report.notes,
    })
    .catch((err: unknown) => log('could not record the run in the run table', { error: describeError(err) }));
}

/**
 * When every queued app of the run has a worker (or poison) row, sends the run's digest: once, because the run row
 * is claimed with its ETag first. Returns the notes, or undefined when the run is not complete or someone else sends.
 */
export async function finishRunIfComplete(
  settings: Settings,
  services: Services,
  runs: RunTable,
  runId: string,
  log: Logger,
): Promise<string[] | undefined> {
  const run = await runs.getRun(runId);
  if (!run || run.digestSentAt) return undefined;
  if (run.digestClaimedAt && Date.now() - Date.parse(run.digestClaimedAt) < DIGEST_CLAIM_MS) return undefined;
  const rows = await runs.listApps(runId);
  if (rows.filter((r) => r.source !== 'inline').length < run.queued) return undefined;
  if (!(await runs.updateRun(run, { digestClaimedAt: new Date().toISOString() }))) return undefined;

  const apps = rows.map((r) => r.report);
  const report: Report = {
    runId,
    startedAt: run.startedAt,
    finishedAt: new Date().toISOString(),
    dryRun: false,
    apps,
    summary: summarize(apps),
  };
  const changed = rows.flatMap((r) => (r.changed ? [{ ...r.changed, report: r.report }] : []));
  const notes = await notifyOwners(settings, services, report, changed, log, undefined, {
    fullRun: run.wholeScope,
  }).catch((err: unknown) => [`notifications failed: ${describeError(err)}`]);
  const fresh = await runs.getRun(runId);
  if (fresh) await runs.updateRun(fresh, { digestSentAt: new Date().toISOString(), digestNotes: notes });
  log('run complete', {
    runId,
    apps: apps.length,
    rotated: report.summary.rotated,
    failed: report.summary.failed,
    notes,
  });
  return notes;
}
