// Service principals: get by id or `(appId='…')` (404 Request_ResourceNotFound when the app has none in the
// tenant), list with `$filter=appId eq|in (...)` (at most 15 values, like real Graph), and the apps one owns
// (ownedObjects, plain or cast to microsoft.graph.application). Application.Read.All or higher reads them;
// OwnedBy lists them all (documented); a service principal may always read itself.
import type { SimApplication, SimServicePrincipal } from '../tenant.js';
import { appOut } from './applications.js';
import { APP_READ, requireAny } from './auth.js';
import { parseServicePrincipalFilter } from './filter.js';
import { resolveSp } from './lookup.js';
import {
  checkAdvancedUrl,
  context,
  isAdvancedQuery,
  ok,
  page,
  parseSelect,
  pick,
  rejectUnmodelled,
  selectFragment,
  sortById,
} from './odata.js';
import { APP_PROPERTIES, fullShape, SP_PROPERTIES } from './shapes.js';
import { lower, type GraphHandler } from './state.js';

export const getServicePrincipal: GraphHandler = (g, call) => {
  rejectUnmodelled(call.req, ['$select']);
  const select = parseSelect(call.req, Object.keys(SP_PROPERTIES), 'microsoft.graph.servicePrincipal');
  const sp = resolveSp(g, call);
  if (lower(sp.id) !== lower(call.claims.oid)) requireAny(call, APP_READ);
  return ok({
    '@odata.context': context(g, selectFragment('servicePrincipals', select, '/$entity')),
    ...pick(fullShape(SP_PROPERTIES, sp, g.tenant), select),
  });
};

export const listServicePrincipals: GraphHandler = (g, call) => {
  requireAny(call, APP_READ);
  rejectUnmodelled(call.req, ['$select', '$filter', '$top', '$count', '$skiptoken']);
  const select = parseSelect(call.req, Object.keys(SP_PROPERTIES), 'microsoft.graph.servicePrincipal');
  const filter = call.req.query.get('$filter');
  const advanced = isAdvancedQuery(call.req);
  if (advanced) checkAdvancedUrl(g, call.req);
  const predicate = filter !== null ? parseServicePrincipalFilter(filter, { advanced }) : () => true;
  const sps = sortById([...g.tenant.servicePrincipals.values()].filter(predicate));
  const render = (sp: SimServicePrincipal) => pick(fullShape(SP_PROPERTIES, sp, g.tenant), select);
  return ok(page(g, call, sps, (sp) => sp.id, render, selectFragment('servicePrincipals', select)));
};

export const listOwnedObjects: GraphHandler = (g, call) => {
  requireAny(call, APP_READ);
  rejectUnmodelled(call.req, ['$select', '$top', '$count', '$skiptoken']);
  const cast = call.req.params[2] !== undefined;
  // The cast form is typed (unknown properties are errors); the directoryObject form is not.
  const select = parseSelect(
    call.req,
    cast ? Object.keys(APP_PROPERTIES) : null,
    'microsoft.graph.application',
  );
  const sp = resolveSp(g, call);
  const owned = sortById(
    [...g.tenant.applications.values()].filter((a) => a.ownerIds.some((o) => lower(o) === lower(sp.id))),
  );
  const render = (a: SimApplication) => {
    if (cast) return appOut(g, a, select, call, false);
    const known = select?.filter((s) => Object.keys(APP_PROPERTIES).some((k) => lower(k) === lower(s)));
    const canonical = known?.map((s) => Object.keys(APP_PROPERTIES).find((k) => lower(k) === lower(s))!);
    return { '@odata.type': '#microsoft.graph.application', ...appOut(g, a, canonical, call, false) };
  };
  return ok(
    page(
      g,
      call,
      owned,
      (a) => a.id,
      render,
      cast ? selectFragment('applications', select) : 'directoryObjects',
    ),
  );
};
