// GET /api/status (issue 16 §6): every app in scope with its current secret's expiry on a timeline, the last rotation,
// the next due date and the last runs, as one self-contained HTML page, or as JSON with `Accept: application/json`.
// Same caller rules as the other endpoints (contract §8): an Entra token for the API with the role Rotation.Read.
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { RunTable } from '../../azure/runs.js';
import { ROLES } from '../../auth/callers.js';
import { connect, envEdge, type Edge } from '../../run.js';
import { gatherStatus } from '../../status/gather.js';
import { statusResponse } from '../../status/respond.js';
import { authorizeHttp } from '../lib/caller.js';
import { errorResponse, requireMethod } from '../lib/http.js';
import { contextLogger } from '../lib/invocation.js';

export const statusHttpHandler =
  (edge: Edge) =>
  async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      requireMethod(request, 'GET');
      const { caller } = await authorizeHttp(request, edge, [ROLES.read]);
      context.log(JSON.stringify({ event: 'status', caller }));
      const settings = edge.settings({ requireKeyVault: false });
      const services = edge.services(settings);
      const deps = await connect(settings, contextLogger(context), services, edge.clock);
      const runs = settings.storage ? new RunTable(settings.storage, services.credential) : undefined;
      return statusResponse(await gatherStatus(deps, runs), request.headers.get('accept'));
    } catch (err) {
      return errorResponse(err, context);
    }
  };

/** The registered handler: the environment is read once per invocation. */
export const statusHttp = (request: HttpRequest, context: InvocationContext) =>
  statusHttpHandler(envEdge(process.env))(request, context);
