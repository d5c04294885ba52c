// GET /api/runs/{runId}: progress of a run, from the run table (the run row and one result per app; no secrets).
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { ROLES } from '../../auth/callers.js';
import { RunTable } from '../../azure/runs.js';
import { envEdge, type Edge } from '../../run.js';
import { authorizeHttp } from '../lib/caller.js';
import { errorResponse, HttpError, json, requireMethod } from '../lib/http.js';

export const runsHttpHandler =
  (edge: Edge) =>
  async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      requireMethod(request, 'GET');
      await authorizeHttp(request, edge, [ROLES.read]); // before the run table is read
      const runId = request.params.runId ?? '';
      if (!/^[A-Za-z0-9-]{1,64}$/.test(runId))
        throw new HttpError(400, 'invalid_request', 'runId is malformed');
      const settings = edge.settings({ requireKeyVault: false });
      if (!settings.storage)
        throw new HttpError(404, 'not_found', 'no run table: AzureWebJobsStorage is not set');
      const runs = new RunTable(settings.storage, edge.services(settings).credential);
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
  };

/** The registered handler: the environment is read once per invocation. */
export const runsHttp = (request: HttpRequest, context: InvocationContext) =>
  runsHttpHandler(envEdge(process.env))(request, context);
