// Applications: list (with $filter/$select/$expand=owners, paged), get (by id or appId), addPassword and
// removePassword with every rule Entra applies to them: OwnedBy writes only owned apps, at most 2 passwords on apps
// that accept personal accounts, end after start, the tenant lifetime policy, one write per app at a time.
// azure-contracts.md §A.1, §A.2, §A.4, §I.
import type { SimApplication } from '../tenant.js';
import { APP_READ, canWrite, requireAny } from './auth.js';
import { parseApplicationFilter } from './filter.js';
import { resolveApp } from './lookup.js';
import {
  badRequest,
  checkAdvancedUrl,
  context,
  denied,
  GraphError,
  isAdvancedQuery,
  ok,
  optionalJson,
  page,
  parseExpand,
  parseSelect,
  pick,
  rejectUnmodelled,
  selectFragment,
  sortById,
} from './odata.js';
import { expandedOwners } from './owners.js';
import { DEFAULT_POLICY_ID } from './policies.js';
import { APP_PROPERTIES, fullShape } from './shapes.js';
import { DAY, lower, type Call, type GraphHandler, type GraphState } from './state.js';

export const PERSONAL_AUDIENCES = new Set(['AzureADandPersonalMicrosoftAccount', 'PersonalMicrosoftAccount']);
const MAX_PERSONAL_PASSWORDS = 2;

/**
 * removePassword of a keyId the app does not hold. The documentation promises only 204. Clients that run
 * against real Graph match the message "No password credential found with keyId <guid>" (HashiCorp's Azure
 * secrets engine, others) and one of them records the status as 400; so the real answer is most likely
 * 400 `Request_BadRequest`, the default. 404 `Request_ResourceNotFound` (this simulator's old answer) stays
 * selectable through `removePasswordUnknownKeyId`: the product must not depend on either (issue 14).
 */
export const REMOVE_UNKNOWN_KEY_DEFAULT: 400 | 404 = 400;

/** An application as a caller sees it: selected properties, and its owners when expanded. */
export function appOut(
  g: GraphState,
  app: SimApplication,
  select: string[] | undefined,
  call: Call,
  expandOwners: boolean,
) {
  const out = pick(fullShape(APP_PROPERTIES, app, g.tenant), select);
  if (expandOwners) out.owners = expandedOwners(g, app, call);
  return out;
}

export const listApplications: GraphHandler = (g, call) => {
  requireAny(call, APP_READ);
  rejectUnmodelled(call.req, ['$select', '$filter', '$top', '$count', '$skiptoken', '$expand']);
  const select = parseSelect(call.req, Object.keys(APP_PROPERTIES), 'microsoft.graph.application');
  const expand = parseExpand(call.req, 'microsoft.graph.application');
  const filter = call.req.query.get('$filter');
  const advanced = isAdvancedQuery(call.req);
  if (advanced) checkAdvancedUrl(g, call.req);
  const predicate = filter !== null ? parseApplicationFilter(filter, { advanced }) : () => true;
  const apps = sortById([...g.tenant.applications.values()].filter(predicate));
  const render = (a: SimApplication) => appOut(g, a, select, call, expand);
  return ok(page(g, call, apps, (a) => a.id, render, selectFragment('applications', select)));
};

export const getApplication: GraphHandler = (g, call) => {
  rejectUnmodelled(call.req, ['$select', '$expand']);
  const select = parseSelect(call.req, Object.keys(APP_PROPERTIES), 'microsoft.graph.application');
  const expand = parseExpand(call.req, 'microsoft.graph.application');
  const app = resolveApp(g, call);
  // "A service principal can retrieve its own application and service principal details without being
  // granted any application permissions" (servicePrincipal get / application get, Permissions).
  if (lower(app.appId) !== lower(call.claims.appid)) requireAny(call, APP_READ);
  return ok({
    '@odata.context': context(g, selectFragment('applications', select, '/$entity')),
    ...appOut(g, app, select, call, expand),
  });
};

/** Serialises writes per app the way Entra refuses overlapping ones (§I): the loser gets 400, not a wait. */
async function exclusiveWrite<T>(g: GraphState, app: SimApplication, fn: () => T): Promise<T> {
  const { concurrency } = g.control;
  if (!concurrency.enabled) return fn();
  if (concurrency.inFlight.has(app.id)) {
    throw badRequest(
      'Unable to complete the request because of concurrent requests on the same object. Please wait briefly and retry.',
    );
  }
  concurrency.inFlight.add(app.id);
  try {
    // Real time on purpose: a write holds its app for a few real ms, whatever the simulated clock says.
    await (concurrency.gate ?? new Promise((r) => setTimeout(r, concurrency.holdMs)));
    return fn();
  } finally {
    concurrency.inFlight.delete(app.id);
  }
}

function dateProperty(obj: Record<string, unknown>, name: string): Date | undefined {
  const v = obj[name];
  if (v === undefined || v === null) return undefined;
  const d = typeof v === 'string' ? new Date(v) : new Date(NaN);
  if (Number.isNaN(d.getTime())) {
    throw badRequest(`Invalid value specified for property '${name}' of resource 'PasswordCredential'.`);
  }
  return d;
}

/** The rules Entra checks before it adds a password (in the order it reports them). */
function checkNewPassword(g: GraphState, app: SimApplication, start: Date, end: Date): void {
  if (
    PERSONAL_AUDIENCES.has(app.signInAudience) &&
    app.passwordCredentials.length >= MAX_PERSONAL_PASSWORDS
  ) {
    throw new GraphError(
      400,
      'TooManyAppPasswords',
      `Not allowed to add ${app.passwordCredentials.length + 1} passwords. You can only add a maximum of ${MAX_PERSONAL_PASSWORDS} passwords.`,
      [{ target: 'passwordCredentials', code: 'TooManyAppPasswords' }],
    );
  }
  if (end.getTime() <= start.getTime()) {
    throw new GraphError(
      400,
      'Request_BadRequest',
      'The endDateTime of a password credential must be later than its startDateTime.',
      [{ code: 'InvalidKeyEndDate', target: 'EndDate' }],
    );
  }
  const maxDays = g.tenant.passwordLifetimeMaxDays;
  if (maxDays !== undefined && end.getTime() - start.getTime() > maxDays * DAY) {
    const message = `Credential lifetime exceeds the max value allowed as per assigned policy '${DEFAULT_POLICY_ID}'.`;
    throw new GraphError(400, 'CredentialInvalidLifetimeAsPerAppPolicy', message, [
      { code: 'InvalidKeyEndDate', message, target: 'EndDate' },
    ]);
  }
}

/** POST addPassword: the caller sets displayName, startDateTime (default now), endDateTime (default +2 years). */
export const addPassword: GraphHandler = async (g, call) => {
  requireAny(call, APP_READ);
  const app = resolveApp(g, call);
  if (!canWrite(call, app)) throw denied();
  const body = optionalJson(call.req) as { passwordCredential?: Record<string, unknown> };
  const pc = body.passwordCredential ?? {};
  const displayName = typeof pc.displayName === 'string' ? pc.displayName : null;
  const start = dateProperty(pc, 'startDateTime') ?? g.ctx.clock.now();
  const end = dateProperty(pc, 'endDateTime') ?? new Date(start.getTime() + 2 * 365 * DAY);
  return exclusiveWrite(g, app, () => {
    checkNewPassword(g, app, start, end);
    const cred = g.tenant.issuePassword(app, { displayName, startDateTime: start, endDateTime: end });
    // The only response that ever carries secretText.
    return ok({
      '@odata.context': context(g, 'microsoft.graph.passwordCredential'),
      customKeyIdentifier: null,
      displayName: cred.displayName,
      endDateTime: cred.endDateTime,
      hint: cred.hint,
      keyId: cred.keyId,
      secretText: cred.secretText,
      startDateTime: cred.startDateTime,
    });
  });
};

/** POST removePassword {keyId}: 204; an unknown keyId answers `removePasswordUnknownKeyId`. */
export const removePassword: GraphHandler = async (g, call) => {
  requireAny(call, APP_READ);
  const app = resolveApp(g, call);
  if (!canWrite(call, app)) throw denied();
  const body = optionalJson(call.req) as { keyId?: unknown };
  if (body.keyId === undefined || body.keyId === null)
    throw badRequest("The required parameter 'keyId' is missing.");
  const keyId = body.keyId;
  if (
    typeof keyId !== 'string' ||
    !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(keyId)
  ) {
    throw badRequest("Invalid value specified for property 'keyId' of resource 'removePassword'.");
  }
  return exclusiveWrite(g, app, () => {
    const index = app.passwordCredentials.findIndex((p) => lower(p.keyId) === lower(keyId));
    if (index < 0) {
      const status = g.control.removePasswordUnknownKeyId;
      const code = status === 404 ? 'Request_ResourceNotFound' : 'Request_BadRequest';
      throw new GraphError(status, code, `No password credential found with keyId ${keyId}.`);
    }
    app.passwordCredentials.splice(index, 1);
    return { status: 204 };
  });
};
