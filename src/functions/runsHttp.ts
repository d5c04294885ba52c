// GET /api/runs/{runId}: progress of a run, from the run table (the run row and one result per app; no secrets).
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { createCredential } from '../azure/identity.js';
import { RunTable } from '../azure/runs.js';
import { loadSettings } from '../settings.js';
import { errorResponse, HttpError, json, requireMethod } from './lib/http.js';

export async function runsHttp(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  try {
    requireMethod(request, 'GET');
    const runId = request.params.runId ?? '';
    if (!/^[A-Za-z0-9-]{1,64}$/.test(runId))
      throw new HttpError(400, 'invalid_request', 'runId is malformed');
    const settings = loadSettings(process.env, { requireKeyVault: false });
    if (!settings.storage)
      throw new HttpError(404, 'not_found', 'no run table: AzureWebJobsStorage is not set');
    const runs = new RunTable(settings.storage, createCredential(settings));
    const run = await runs.getRun(runId);
    if (!run) throw new HttpError(404, 'not_found', `no run ${runId}`);
    const apps = (await runs.listApps(runId)).map((r) => ({
      ...r.report,
      source: r.source,
      updatedAt: r.updatedAt,
    }));
    const { etag: _etag, digestClaimedAt: _claimed, ...shown } = run;
    const done = apps.filter((a) => a.source !== 'inline').length;
    return json(200, { ...shown, complete: done >= run.queued, apps });
  } catch (err) {
    return errorResponse(err, context);
  }
}

app.http('runs', {
  methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
  authLevel: 'function',
  route: 'runs/{runId}',
  handler: runsHttp,
});
