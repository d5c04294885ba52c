// POST /api/rotate (contract.md §6): rotate now, for the whole scope or the listed apps, and answer with the report.
// HTTP triggers must answer within 230 s, so the run stops starting rotations after HTTP_TIME_BUDGET_SECONDS
// (default 200) and queues the apps it has not reached: they are reported `skipped` with reason
// "queued for a worker (run …)", and the run's digest is sent when the last worker is done.
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { randomUUID } from 'node:crypto';
import type { WorkMessage } from '../azure/queue.js';
import { createServices, runRotation } from '../rotation/engine.js';
import { notifyCutShort, notifyRun } from '../run.js';
import { loadSettings } from '../settings.js';
import { contextLogger, fanOut, loadTuning, queuedReason, recordInlineRun } from './lib/fanout.js';
import { errorResponse, json, parseRotateRequest, requireMethod } from './lib/http.js';

export async function rotateHttp(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  try {
    requireMethod(request, 'POST');
    const body = await parseRotateRequest(request);
    const settings = loadSettings(process.env, { requireKeyVault: !body.dryRun });
    const tuning = loadTuning(process.env);
    const started = Date.now();
    const log = contextLogger(context);
    const services = createServices(settings);
    const queued: WorkMessage[] = [];
    const runId = randomUUID();
    const mailWaits = { maxWaitMs: 20_000, pollTimeoutMs: 20_000 }; // mail waits must fit in the 230 s
    const result = await runRotation(
      settings,
      {
        mode: 'rotate',
        dryRun: body.dryRun,
        appIds: body.appIds,
        force: body.force,
        runId,
        log,
        // Without a queue (no AzureWebJobsStorage) the run simply goes on.
        handOff: (a) => {
          if (!settings.storage || Date.now() - started < tuning.httpBudgetMs) return undefined;
          queued.push({ runId, appId: a.appId.toLowerCase(), force: body.force });
          return queuedReason(runId);
        },
      },
      services,
    ).catch(async (err: unknown) => {
      await notifyCutShort(settings, services, err, log, undefined, mailWaits);
      throw err;
    });
    if (!body.dryRun) {
      if (queued.length) await fanOut(settings, services, 'http', result, queued);
      else {
        await notifyRun(settings, services, result, log, undefined, mailWaits);
        await recordInlineRun(settings, services, 'http', result, log);
      }
    }
    const s = result.report.summary;
    context.log(
      JSON.stringify({ event: 'rotation-run', trigger: 'http', runId, ...s, queued: queued.length }),
    );
    return json(200, result.report);
  } catch (err) {
    return errorResponse(err, context);
  }
}

app.http('rotate', {
  // Every method reaches the handler, so a wrong one gets 405 with Allow rather than the host's 404.
  methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
  authLevel: 'function',
  route: 'rotate',
  handler: rotateHttp,
});
