// Addressing an application or a service principal by object id (`/applications/{id}`) or by alternate key
// (`/applications(appId='{appId}')`). Route params are [objectId, appId]: one of them is set.
import type { SimRequest } from '../http.js';
import type { SimApplication, SimServicePrincipal } from '../tenant.js';
import { notFound } from './odata.js';
import { lower, type Call, type GraphState } from './state.js';

export function findApp(g: GraphState, req: SimRequest): SimApplication | undefined {
  const [id, appId] = req.params;
  if (appId !== undefined) return g.tenant.applicationByAppId(appId);
  if (id === undefined) return undefined;
  return g.tenant.applications.get(id) ?? g.tenant.applications.get(lower(id));
}

/** The addressed app, or Graph's 404; names the app as the request's subject in the log. */
export function resolveApp(g: GraphState, call: Call): SimApplication {
  const app = findApp(g, call.req);
  const [id, appId] = call.req.params;
  if (!app) {
    if (appId !== undefined) call.req.subject = appId;
    throw notFound(appId !== undefined ? `appId=${appId}` : (id ?? ''));
  }
  call.req.subject = app.appId;
  return app;
}

export function resolveSp(g: GraphState, call: Call): SimServicePrincipal {
  const [id, appId] = call.req.params;
  const sp =
    appId !== undefined
      ? g.tenant.servicePrincipalByAppId(appId)
      : [...g.tenant.servicePrincipals.values()].find((s) => lower(s.id) === lower(id ?? ''));
  if (!sp) throw notFound(appId !== undefined ? `appId=${appId}` : (id ?? ''));
  return sp;
}
