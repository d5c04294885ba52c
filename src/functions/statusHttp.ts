// GET /api/status (issue 16 §6): every app in scope with its current secret's expiry on a timeline, the last rotation,
// the next due date and the last runs, as one self-contained HTML page, or as JSON with `Accept: application/json`.
// Same caller rules as the other endpoints (contract §8): an Entra token for the API with the role Rotation.Read.
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { RunTable } from '../azure/runs.js';
import { CallerRefused, requireCaller, ROLES } from '../auth/callers.js';
import { callerAuthConfig } from '../auth/config.js';
import { createServices } from '../rotation/engine.js';
import { loadSettings } from '../settings.js';
import { gatherStatus } from '../status/gather.js';
import { statusResponse } from '../status/respond.js';
import { contextLogger } from './lib/fanout.js';
import { errorResponse, json, requireMethod } from './lib/http.js';

export async function statusHttp(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  try {
    requireMethod(request, 'GET');
    const settings = loadSettings(process.env, { requireKeyVault: false });
    const services = createServices(settings);
    const auth = await callerAuthConfig(settings, undefined, services.credential);
    const caller = await requireCaller(request.headers.get('authorization'), auth, [ROLES.read]);
    context.log(JSON.stringify({ event: 'status', caller }));
    const runs = settings.storage ? new RunTable(settings.storage, services.credential) : undefined;
    const page = await gatherStatus(settings, { runs, log: contextLogger(context) }, services);
    return statusResponse(page, request.headers.get('accept'));
  } catch (err) {
    if (err instanceof CallerRefused)
      return json(err.status, { error: { code: err.code, message: err.message } }, err.headers);
    return errorResponse(err, context);
  }
}

app.http('status', {
  methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
  authLevel: 'function',
  route: 'status',
  handler: statusHttp,
});
