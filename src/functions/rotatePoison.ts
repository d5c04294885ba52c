// Poison queue: a work message the worker failed on maxDequeueCount times (host.json) ends up here. The app is
// recorded as failed in its run, so it is reported rather than lost, its owners learn of it in the run's digest,
// and the run can complete.
import { app, type InvocationContext } from '@azure/functions';
import { parseWorkMessage, POISON_QUEUE } from '../azure/queue.js';
import { RunTable } from '../azure/runs.js';
import { describeError } from '../errors.js';
import { createServices, type ChangedApp } from '../rotation/engine.js';
import { policyFor } from '../rotation/policy.js';
import type { AppReport } from '../rotation/report.js';
import { loadSettings } from '../settings.js';
import { contextLogger, finishRunIfComplete } from './lib/fanout.js';

export async function rotatePoison(item: unknown, context: InvocationContext): Promise<void> {
  const parsed = parseWorkMessage(item);
  if (!parsed.ok) {
    context.warn(JSON.stringify({ event: 'rotation-poison-dropped', problem: parsed.problem }));
    return;
  }
  const { runId, appId } = parsed.message;
  const log = contextLogger(context);
  const dequeueCount = context.triggerMetadata?.dequeueCount;
  try {
    const settings = loadSettings(process.env, { requireKeyVault: false });
    const services = createServices(settings);
    const runs = new RunTable(settings.storage!, services.credential);
    let report: AppReport = {
      appId,
      displayName: '',
      action: 'failed',
      reason:
        `the queue worker failed on this app ${typeof dequeueCount === 'number' ? `${dequeueCount} times` : 'repeatedly'}` +
        ' and gave up; see the rotateWorker logs for the error. The next scheduled run tries again',
    };
    let changed: ChangedApp | undefined;
    try {
      // Best effort: with the app's names and tag recipients, its owners are told in the digest.
      const view = await services.graph.getApplication(appId);
      if (view) {
        report = { ...report, displayName: view.displayName };
        const policy = policyFor(view, settings);
        changed = { app: view, report, notify: policy.ok ? policy.policy.notify : [] };
      }
    } catch (err) {
      log('could not read the app for its failure notice', { appId, error: describeError(err) });
    }
    const row = await runs.recordApp(runId, 'poison', report, changed);
    context.log(
      JSON.stringify({ event: 'rotation-app-poisoned', runId, appId, recorded: row.report.action }),
    );
    await finishRunIfComplete(settings, services, runs, runId, log);
  } catch (err) {
    const error = describeError(err);
    context.error(JSON.stringify({ event: 'rotation-poison-error', runId, appId, error }));
    throw new Error(`recording the poisoned message for ${appId} (run ${runId}) failed: ${error}`);
  }
}

app.storageQueue('rotatePoison', {
  queueName: POISON_QUEUE,
  connection: 'AzureWebJobsStorage',
  handler: rotatePoison,
});
