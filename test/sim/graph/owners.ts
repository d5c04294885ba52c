// GET /applications/{id}/owners (and the appId form): users and service principals that own an app, with the
// limited-information rule: a caller that cannot read a member's type sees only its @odata.type and id
// (azure-contracts.md §A.3).
import type { SimApplication, SimServicePrincipal, SimUser } from '../tenant.js';
import { APP_READ, hasAny, requireAny, USER_READ } from './auth.js';
import { resolveApp } from './lookup.js';
import { ok, page, parseSelect, rejectUnmodelled } from './odata.js';
import { SP_PROPERTIES } from './shapes.js';
import { lower, type Call, type GraphHandler, type GraphState } from './state.js';
import { USER_DEFAULT, userProperties } from './users.js';

export type DirectoryObject = { kind: 'user'; user: SimUser } | { kind: 'sp'; sp: SimServicePrincipal };

export const objId = (o: DirectoryObject) => (o.kind === 'user' ? o.user.id : o.sp.id);

export function ownersOf(g: GraphState, app: SimApplication): DirectoryObject[] {
  const out: DirectoryObject[] = [];
  for (const id of app.ownerIds) {
    const user = g.tenant.users.get(id);
    if (user) out.push({ kind: 'user', user });
    const sp = g.tenant.servicePrincipals.get(id);
    if (sp) out.push({ kind: 'sp', sp });
  }
  return out.sort((a, b) => (objId(a) < objId(b) ? -1 : 1));
}

/** A directoryObject in a relationship: limited information when the caller cannot read that type. */
export function directoryObjectOut(
  g: GraphState,
  o: DirectoryObject,
  select: string[] | undefined,
  call: Call,
) {
  let type: string;
  let props: Record<string, unknown>;
  let readable: boolean;
  let defaults: string[];
  if (o.kind === 'user') {
    type = '#microsoft.graph.user';
    props = userProperties(o.user);
    readable = hasAny(call, USER_READ);
    defaults = USER_DEFAULT;
  } else {
    type = '#microsoft.graph.servicePrincipal';
    props = {};
    for (const [k, f] of Object.entries(SP_PROPERTIES)) if (k !== 'id') props[k] = f(o.sp, g.tenant);
    readable = hasAny(call, APP_READ);
    defaults = Object.keys(props);
  }
  const out: Record<string, unknown> = { '@odata.type': type, id: objId(o) };
  for (const name of select ?? defaults) {
    if (name === 'id') continue;
    const key = Object.keys(props).find((k) => lower(k) === lower(name));
    if (key === undefined) continue; // not a property of this type
    out[key] = readable ? props[key] : null;
  }
  return out;
}

/** `$expand=owners` on an application: at most 20 related objects per parent. */
export const expandedOwners = (g: GraphState, app: SimApplication, call: Call) =>
  ownersOf(g, app)
    .slice(0, 20)
    .map((o) => directoryObjectOut(g, o, undefined, call));

export const listOwners: GraphHandler = (g, call) => {
  requireAny(call, APP_READ);
  rejectUnmodelled(call.req, ['$select', '$top', '$count', '$skiptoken']);
  const select = parseSelect(call.req, null, 'microsoft.graph.directoryObject');
  const app = resolveApp(g, call);
  return ok(
    page(g, call, ownersOf(g, app), objId, (o) => directoryObjectOut(g, o, select, call), 'directoryObjects'),
  );
};
