// GET /api/scan (contract.md §6): the inventory of the apps in scope and what a rotation would do; changes nothing.
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { ROLES } from '../../auth/callers.js';
import { inline } from '../../handoff.js';
import { envEdge, runOnce, type Edge } from '../../run.js';
import { authorizeHttp } from '../lib/caller.js';
import { errorResponse, json, requireMethod } from '../lib/http.js';
import { connectRun } from '../lib/invocation.js';

export function scanHttpHandler(edge: Edge) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      requireMethod(request, 'GET');
      await authorizeHttp(request, edge, [ROLES.read]); // before any Graph or Key Vault read
      const deps = await connectRun(edge, context, { requireKeyVault: false });
      const { result } = await runOnce(deps, 'http', inline, { mode: 'scan' });
      return json(200, result!.report);
    } catch (err) {
      return errorResponse(err, context);
    }
  };
}

/** The registered handler: the environment is read once per invocation. */
export const scanHttp = (request: HttpRequest, context: InvocationContext) =>
  scanHttpHandler(envEdge(process.env))(request, context);
