// Microsoft Graph v1.0, the slice the rotator uses, one file per resource over an explicit state (state.ts):
// applications.ts (list, get, addPassword, removePassword), servicePrincipals.ts (get, list, ownedObjects),
// owners.ts, users.ts, policies.ts (lifetime policy), batch.ts, odata.ts (paging, $select, errors), filter.ts,
// throttle.ts, auth.ts (which roles allow what). This file wires them: authentication, throttling, common headers
// and error bodies around each route. See azure-contracts.md §A.
import { randomUUID } from 'node:crypto';
import type { SimContext, SimService } from '../cloud.js';
import { SimHttpError, type Handler, type Route } from '../http.js';
import type { Tenant } from '../tenant.js';
import type { AccessClaims } from '../tokens.js';
import {
  addPassword,
  getApplication,
  listApplications,
  PERSONAL_AUDIENCES,
  REMOVE_UNKNOWN_KEY_DEFAULT,
  removePassword,
} from './applications.js';
import { batchHandler } from './batch.js';
import { findApp } from './lookup.js';
import { errorBody, errorResponse, GraphError, header, JSON_TYPE } from './odata.js';
import { listOwners } from './owners.js';
import { getAppManagementPolicy } from './policies.js';
import { getServicePrincipal, listOwnedObjects, listServicePrincipals } from './servicePrincipals.js';
import { GRAPH_RESOURCE, type Call, type GraphControl, type GraphHandler, type GraphState } from './state.js';
import { GraphThrottle, resourceUnitCost } from './throttle.js';

export { REMOVE_UNKNOWN_KEY_DEFAULT } from './applications.js';
export type { GraphControl } from './state.js';

const WRITE_OPS = new Set(['graph.addPassword', 'graph.removePassword']);

export interface GraphService extends SimService {
  control: GraphControl;
}

const controls = new WeakMap<Tenant, GraphControl>();

/** The Graph simulator's knobs for a running cloud (or its context). */
export function graphControl(cloud: { tenant: Tenant }): GraphControl {
  const control = controls.get(cloud.tenant);
  if (!control) throw new Error('No Graph simulator was created for this tenant.');
  return control;
}

/** Authentication, throttling, common headers and error bodies around one operation. */
function wrap(g: GraphState, op: string, handler: GraphHandler, opts: { auth?: boolean } = {}): Handler {
  const { ctx, tenant } = g;
  return async (req) => {
    const requestId = randomUUID();
    const clientRequestId = header(req, 'client-request-id') ?? requestId;
    const common: Record<string, string> = { 'request-id': requestId, 'client-request-id': clientRequestId };
    try {
      if (opts.auth === false) return await handler(g, { req, claims: {} as AccessClaims, roles: new Set() });
      const audiences = [ctx.origins.graph, GRAPH_RESOURCE];
      const claims = await ctx.issuer.verify(req, audiences, undefined, ctx.clock.now());
      if (claims.tid !== tenant.tenantId) {
        throw new SimHttpError(
          401,
          'InvalidAuthenticationToken',
          'Access token validation failure. Invalid audience or tenant.',
        );
      }
      const call: Call = { req, claims, roles: new Set(claims.roles ?? []) };
      if (op === 'graph.batch') {
        // Sub-requests are throttled one by one (batch.ts), the envelope is not.
        const r = await handler(g, call);
        return { ...r, headers: { 'content-type': JSON_TYPE, ...common, ...r.headers } };
      }
      const cost = resourceUnitCost(op, req.query);
      common['x-ms-resource-unit'] = String(cost);
      const isWrite = WRITE_OPS.has(op);
      const target = isWrite ? findApp(g, req) : undefined;
      const decision = g.control.throttle.admit(
        {
          callerAppId: claims.appid,
          tenantId: tenant.tenantId,
          tier: tenant.throttlingTier,
          resourceUnits: cost,
          isWrite,
          personalTargetAppId:
            target && PERSONAL_AUDIENCES.has(target.signInAudience) ? target.appId : undefined,
        },
        ctx.clock.nowMs(),
      );
      if (!decision.ok) {
        if (target) req.subject = target.appId;
        throw new SimHttpError(
          429,
          'Request_ThrottledTemporarily',
          `Your request is throttled temporarily. Please try after ${decision.retryAfterSeconds} seconds.`,
          {
            'retry-after': String(decision.retryAfterSeconds),
            'x-ms-throttle-scope': decision.scope,
            'x-ms-throttle-information': decision.information,
          },
        );
      }
      if (decision.usedFraction > 0.8)
        common['x-ms-throttle-limit-percentage'] = decision.usedFraction.toFixed(1);
      const r = await handler(g, call);
      const typed: Record<string, string> = r.body !== undefined ? { 'content-type': JSON_TYPE } : {};
      return { ...r, headers: { ...typed, ...common, ...r.headers } };
    } catch (err) {
      if (!(err instanceof SimHttpError)) throw err;
      return errorResponse(g, err, req, common, requestId);
    }
  };
}

/** Anything else is answered the way Graph answers an unknown segment (not by the kernel's generic 404). */
const unknownSegment: GraphHandler = (_g, call) => {
  const segment = call.req.path.split('/').filter(Boolean).pop() ?? '';
  throw new GraphError(400, 'BadRequest', `Resource not found for the segment '${segment}'.`);
};

export function createGraph(ctx: SimContext, opts: { throttling: boolean }): GraphService {
  const control: GraphControl = {
    throttle: new GraphThrottle(opts.throttling),
    concurrency: { enabled: true, holdMs: 5, inFlight: new Set() },
    removePasswordUnknownKeyId: REMOVE_UNKNOWN_KEY_DEFAULT,
  };
  controls.set(ctx.tenant, control);
  const g: GraphState = { ctx, tenant: ctx.tenant, control };

  const REF = String.raw`(?:/([^/()]+)|\(appId='([^'/]*)'\))`;
  const re = (s: string) => new RegExp(`^/v1\\.0/${s}$`, 'i');
  const routes: Route[] = [];
  const route = (method: string, pattern: RegExp, op: string, handler: GraphHandler) =>
    routes.push({ method, pattern, op, handler: wrap(g, op, handler) });
  route('GET', re('applications/?'), 'graph.listApplications', listApplications);
  route('GET', re(`applications${REF}`), 'graph.getApplication', getApplication);
  route('POST', re(`applications${REF}/addPassword`), 'graph.addPassword', addPassword);
  route('POST', re(`applications${REF}/removePassword`), 'graph.removePassword', removePassword);
  route('GET', re(`applications${REF}/owners/?`), 'graph.listOwners', listOwners);
  route('GET', re('servicePrincipals/?'), 'graph.listServicePrincipals', listServicePrincipals);
  route('GET', re(`servicePrincipals${REF}`), 'graph.getServicePrincipal', getServicePrincipal);
  route(
    'GET',
    re(`servicePrincipals${REF}/ownedObjects(/microsoft\\.graph\\.application)?/?`),
    'graph.listOwnedObjects',
    listOwnedObjects,
  );
  route(
    'GET',
    re('policies/defaultAppManagementPolicy'),
    'graph.getAppManagementPolicy',
    getAppManagementPolicy,
  );
  route('POST', re('\\$batch'), 'graph.batch', batchHandler(routes));
  for (const method of ['GET', 'POST', 'PATCH', 'PUT', 'DELETE']) {
    routes.push({
      method,
      pattern: /^\//,
      op: 'graph.unknown',
      handler: wrap(g, 'graph.unknown', unknownSegment, { auth: false }),
    });
  }

  // Errors the kernel produces itself (injected faults, random 429s) in Graph's shape.
  let lastKernelRequestId = '';
  return {
    control,
    routes,
    errors: {
      headers: () => {
        lastKernelRequestId = randomUUID();
        return { 'request-id': lastKernelRequestId, 'content-type': 'application/json' };
      },
      body: (_status, code, message, req) =>
        errorBody(
          ctx.clock.now(),
          code,
          message,
          lastKernelRequestId || randomUUID(),
          header(req, 'client-request-id') ?? lastKernelRequestId,
        ),
    },
  };
}
