// Queue worker: rotates one app per message of a fanned-out run and records the result in the run table; the
// worker that completes the run sends its digest. Duplicate deliveries are harmless: a rotation already recorded
// for the run is not repeated, and the engine re-decides inside the app's lock. A malformed message is logged and
// dropped (retrying cannot fix it); anything else that throws is retried by the host, then lands in the poison queue.
import { app, type InvocationContext } from '@azure/functions';
import { parseWorkMessage, WORK_QUEUE } from '../azure/queue.js';
import { RunTable } from '../azure/runs.js';
import { describeError } from '../errors.js';
import { createServices, runRotation, type RunResult } from '../rotation/engine.js';
import { notifyRun } from '../run.js';
import { loadSettings } from '../settings.js';
import { contextLogger, finishRunIfComplete } from './lib/fanout.js';

export async function rotateWorker(item: unknown, context: InvocationContext): Promise<void> {
  const parsed = parseWorkMessage(item);
  if (!parsed.ok) {
    context.warn(JSON.stringify({ event: 'rotation-message-dropped', problem: parsed.problem }));
    return;
  }
  const { runId, appId, force } = parsed.message;
  const log = contextLogger(context);
  try {
    const settings = loadSettings(process.env, { requireKeyVault: true });
    const services = createServices(settings);
    const runs = new RunTable(settings.storage!, services.credential);
    const done = await runs.getApp(runId, appId);
    let action = done?.report.action;
    let result: RunResult | undefined;
    if (done?.report.action !== 'rotated') {
      result = await runRotation(settings, { mode: 'rotate', appIds: [appId], runId, force, log }, services);
      const report = result.report.apps[0]!;
      await runs.recordApp(runId, 'worker', report, result.changed[0]);
      action = report.action;
      context.log(
        JSON.stringify({ event: 'rotation-app', runId, appId, action: report.action, reason: report.reason }),
      );
    }
    if (await runs.getRun(runId)) await finishRunIfComplete(settings, services, runs, runId, log);
    else if (result) {
      // A message without its run row (put there by hand, or the table was cleared): nobody else will
      // send a digest for it, so tell this app's owners now.
      await notifyRun(settings, services, result, log);
    }
    if (done) context.log(JSON.stringify({ event: 'rotation-app-redelivered', runId, appId, action }));
  } catch (err) {
    const error = describeError(err);
    context.error(JSON.stringify({ event: 'rotation-app-error', runId, appId, error }));
    throw new Error(`rotating ${appId} for run ${runId} failed: ${error}`);
  }
}

app.storageQueue('rotateWorker', {
  queueName: WORK_QUEUE,
  connection: 'AzureWebJobsStorage',
  handler: rotateWorker,
});
