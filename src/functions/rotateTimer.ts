// Timer: every ROTATION_SCHEDULE, rotate the whole scope. A scan finds the due apps first: up to
// ROTATION_INLINE_MAX (default 10) are rotated right here, since a handful of rotations finish well within the
// function timeout and a queue round trip would only add latency and a second digest path; beyond that the due
// apps are fanned out, one queue message each, so that many workers prove and store secrets in parallel and one
// slow app cannot hold up the rest. The rotate pass still runs over the whole scope (retiring superseded secrets,
// sweeping orphans) and hands the queued apps over untouched.
import { app, type InvocationContext, type Timer } from '@azure/functions';
import { randomUUID } from 'node:crypto';
import type { WorkMessage } from '../azure/queue.js';
import { describeError } from '../errors.js';
import { createServices, runRotation } from '../rotation/engine.js';
import { notifyCutShort, notifyRun } from '../run.js';
import { loadSettings } from '../settings.js';
import { contextLogger, fanOut, loadTuning, queuedReason, recordInlineRun } from './lib/fanout.js';

export async function rotateTimer(timer: Timer, context: InvocationContext): Promise<void> {
  const runId = randomUUID();
  const log = contextLogger(context);
  try {
    const settings = loadSettings(process.env, { requireKeyVault: true });
    const tuning = loadTuning(process.env);
    const base = createServices(settings);
    // The scan's report is streamed into the list of due apps: only they are kept, whatever the tenant's size.
    const due: string[] = [];
    const scan = await runRotation(
      settings,
      {
        mode: 'scan',
        runId,
        log,
        stream: {
          start: () => undefined,
          app: (a) => {
            if (a.action === 'would-rotate') due.push(a.appId.toLowerCase());
          },
        },
      },
      base,
    );
    const services = { ...base, identity: scan.identity };
    // Without AzureWebJobsStorage there is no queue (never the case under the host): then everything runs here.
    const queue = settings.storage && due.length > tuning.inlineMax ? new Set(due) : new Set<string>();
    const reason = queuedReason(runId);
    const result = await runRotation(
      settings,
      {
        mode: 'rotate',
        runId,
        log,
        handOff: (a) => (queue.has(a.appId.toLowerCase()) ? reason : undefined),
      },
      services,
    ).catch(async (err: unknown) => {
      await notifyCutShort(settings, services, err, log);
      throw err;
    });
    const queued: WorkMessage[] = result.report.apps
      .filter((a) => a.action === 'skipped' && a.reason === reason)
      .map((a) => ({ runId, appId: a.appId.toLowerCase(), force: false }));
    if (queued.length) await fanOut(settings, services, 'timer', result, queued);
    else {
      await notifyRun(settings, services, result, log);
      await recordInlineRun(settings, services, 'timer', result, log);
    }
    const s = result.report.summary;
    context.log(
      JSON.stringify({
        event: 'rotation-run',
        runId,
        pastDue: timer.isPastDue,
        scanned: s.scanned,
        due: due.length,
        queued: queued.length,
        rotatedInline: s.rotated,
        failed: s.failed,
        upToDate: s.upToDate,
        skipped: s.skipped - queued.length,
        notes: result.report.notes ?? [],
      }),
    );
  } catch (err) {
    // One line for the operator; throwing makes the host record the invocation as failed.
    context.error(JSON.stringify({ event: 'rotation-run-failed', runId, error: describeError(err) }));
    throw new Error(`rotation run ${runId} failed: ${describeError(err)}`);
  }
}

app.timer('rotateTimer', { schedule: '%ROTATION_SCHEDULE%', handler: rotateTimer });
