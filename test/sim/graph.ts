// Microsoft Graph v1.0, the slice the rotator uses: applications (list, get, addPassword, removePassword,
// owners), service principals and their owned objects, the tenant app-management policy and JSON batching.
// Authorization comes from the token's `roles` claim like the real service; errors, paging, throttling
// and the per-app write rules follow the documented (or observed) behaviour. See azure-contracts.md §A.
import { randomUUID } from 'node:crypto';
import type { SimContext, SimService } from './cloud.js';
import { parseApplicationFilter, parseServicePrincipalFilter } from './graph-filter.js';
import { GraphThrottle, resourceUnitCost } from './graph-throttle.js';
import { SimHttpError, type Handler, type Route, type SimRequest, type SimResponse } from './http.js';
import type { SimApplication, SimServicePrincipal, SimUser, Tenant } from './tenant.js';
import type { AccessClaims } from './tokens.js';

const GRAPH_RESOURCE = 'https://graph.microsoft.com';
const DAY = 86_400_000;
/** The tenant default app-management policy always has this id. */
const DEFAULT_POLICY_ID = '00000000-0000-0000-0000-000000000000';
const JSON_TYPE =
  'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

const APP_READ = [
  'Application.Read.All',
  'Application.ReadWrite.OwnedBy',
  'Application.ReadWrite.All',
  'Directory.Read.All',
  'Directory.ReadWrite.All',
];
const APP_WRITE_ANY = ['Application.ReadWrite.All', 'Directory.ReadWrite.All'];
const USER_READ = [
  'User.ReadBasic.All',
  'User.Read.All',
  'User.ReadWrite.All',
  'Directory.Read.All',
  'Directory.ReadWrite.All',
];
const POLICY_READ = ['Policy.Read.All', 'Policy.ReadWrite.ApplicationConfiguration'];
const PERSONAL_AUDIENCES = new Set(['AzureADandPersonalMicrosoftAccount', 'PersonalMicrosoftAccount']);
const WRITE_OPS = new Set(['graph.addPassword', 'graph.removePassword']);
const MAX_PERSONAL_PASSWORDS = 2;
const BATCH_LIMIT = 20;
/**
 * removePassword of a keyId the app does not hold. The documentation promises only 204. Clients that run
 * against real Graph match the message "No password credential found with keyId <guid>" (HashiCorp's Azure
 * secrets engine, others) and one of them records the status as 400; so the real answer is most likely
 * 400 `Request_BadRequest`. The default stays 404 `Request_ResourceNotFound` (this simulator's old answer)
 * only until the product decides removals from the app's state (issue 14 §2): today it reads 404 as "gone"
 * and would report a retried removal as failed. Flip it to 400 then; tests set `removePasswordUnknownKeyId`.
 */
export const REMOVE_UNKNOWN_KEY_DEFAULT: 400 | 404 = 404;

/** Knobs tests and the benchmark reach through `graphControl(cloud)`. */
export interface GraphControl {
  /** Budgets (`setBudgets`, `reset`, `budgets`), the on/off switch and the counters. */
  throttle: GraphThrottle;
  /** A write that arrives while another write on the same app is in flight gets 400 (§I). */
  concurrency: { enabled: boolean; holdMs: number };
  /** The status of removePassword for a keyId the app does not hold (see REMOVE_UNKNOWN_KEY_DEFAULT). */
  removePasswordUnknownKeyId: 400 | 404;
}

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

/** A Graph error, optionally with `details` (TooManyAppPasswords and lifetime policy errors carry them). */
class GraphError extends SimHttpError {
  constructor(
    status: number,
    code: string,
    message: string,
    readonly details?: Array<Record<string, string>>,
    headers: Record<string, string> = {},
  ) {
    super(status, code, message, headers);
  }
}

const denied = () =>
  new GraphError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
const badRequest = (message: string) => new GraphError(400, 'Request_BadRequest', message);
const notFound = (ref: string) =>
  new GraphError(
    404,
    'Request_ResourceNotFound',
    `Resource '${ref}' does not exist or one of its queried reference-property objects are not present.`,
  );

function errorBody(
  now: Date,
  code: string,
  message: string,
  requestId: string,
  clientRequestId: string,
  details?: unknown,
) {
  return {
    error: {
      code,
      message,
      ...(details ? { details } : {}),
      innerError: {
        date: now.toISOString().slice(0, 19),
        'request-id': requestId,
        'client-request-id': clientRequestId,
      },
    },
  };
}

function header(req: SimRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Real time on purpose: a write holds its app for a few real ms, whatever the simulated clock says. */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lower = (s: string) => s.toLowerCase();

interface Call {
  req: SimRequest;
  claims: AccessClaims;
  roles: Set<string>;
}

type GraphHandler = (call: Call) => SimResponse | Promise<SimResponse>;

// ---- resource shapes -------------------------------------------------------------------------------------

function passwordResource(p: SimApplication['passwordCredentials'][number]) {
  // secretText is returned by addPassword only; reads show null like the real service.
  return {
    customKeyIdentifier: null,
    displayName: p.displayName,
    endDateTime: p.endDateTime,
    hint: p.hint,
    keyId: p.keyId,
    secretText: null,
    startDateTime: p.startDateTime,
  };
}

function keyResource(k: SimApplication['keyCredentials'][number]) {
  // The key value is never in a list response unless selected; the simulator keeps no key material.
  return { ...k, key: null };
}

/** Properties of microsoft.graph.application: modelled ones from the tenant, the rest as Graph's empty values. */
const APP_PROPERTIES: Record<string, (app: SimApplication, tenant: Tenant) => unknown> = {
  id: (a) => a.id,
  deletedDateTime: () => null,
  addIns: () => [],
  api: () => ({
    acceptMappedClaims: null,
    knownClientApplications: [],
    oauth2PermissionScopes: [],
    preAuthorizedApplications: [],
    requestedAccessTokenVersion: null,
  }),
  appId: (a) => a.appId,
  applicationTemplateId: () => null,
  appRoles: () => [],
  certification: () => null,
  createdDateTime: (a) => a.createdDateTime,
  defaultRedirectUri: () => null,
  description: () => null,
  disabledByMicrosoftStatus: () => null,
  displayName: (a) => a.displayName,
  groupMembershipClaims: () => null,
  identifierUris: () => [],
  info: () => ({
    logoUrl: null,
    marketingUrl: null,
    privacyStatementUrl: null,
    supportUrl: null,
    termsOfServiceUrl: null,
  }),
  isDeviceOnlyAuthSupported: () => null,
  isFallbackPublicClient: () => null,
  keyCredentials: (a) => a.keyCredentials.map(keyResource),
  logo: () => null,
  nativeAuthenticationApisEnabled: () => null,
  notes: () => null,
  oauth2RequirePostResponse: () => false,
  optionalClaims: () => null,
  parentalControlSettings: () => ({ countriesBlockedForMinors: [], legalAgeGroupRule: 'Allow' }),
  passwordCredentials: (a) => a.passwordCredentials.map(passwordResource),
  publicClient: () => ({ redirectUris: [] }),
  publisherDomain: (_a, t) => `${t.tenantId.slice(0, 8)}.onmicrosoft.com`,
  requestSignatureVerification: () => null,
  requiredResourceAccess: () => [],
  samlMetadataUrl: () => null,
  serviceManagementReference: () => null,
  servicePrincipalLockConfiguration: () => null,
  signInAudience: (a) => a.signInAudience,
  spa: () => ({ redirectUris: [] }),
  tags: (a) => [...a.tags],
  tokenEncryptionKeyId: () => null,
  uniqueName: () => null,
  verifiedPublisher: () => ({ displayName: null, verifiedPublisherId: null, addedDateTime: null }),
  web: () => ({
    homePageUrl: null,
    logoutUrl: null,
    redirectUris: [],
    implicitGrantSettings: { enableAccessTokenIssuance: false, enableIdTokenIssuance: false },
  }),
};

const SP_PROPERTIES: Record<string, (sp: SimServicePrincipal, tenant: Tenant) => unknown> = {
  id: (s) => s.id,
  deletedDateTime: () => null,
  accountEnabled: () => true,
  alternativeNames: () => [],
  appDisplayName: (s) => s.displayName,
  appId: (s) => s.appId,
  appOwnerOrganizationId: (_s, t) => t.tenantId,
  appRoleAssignmentRequired: () => false,
  appRoles: () => [],
  description: () => null,
  displayName: (s) => s.displayName,
  homepage: () => null,
  keyCredentials: () => [],
  notes: () => null,
  passwordCredentials: () => [],
  preferredSingleSignOnMode: () => null,
  replyUrls: () => [],
  servicePrincipalNames: (s) => [s.appId],
  servicePrincipalType: (s) => s.servicePrincipalType,
  signInAudience: () => 'AzureADMyOrg',
  tags: () => [],
};

const USER_DEFAULT = [
  'businessPhones',
  'displayName',
  'givenName',
  'jobTitle',
  'mail',
  'mobilePhone',
  'officeLocation',
  'preferredLanguage',
  'surname',
  'userPrincipalName',
];

function userProperties(u: SimUser): Record<string, unknown> {
  return {
    businessPhones: [],
    displayName: u.displayName,
    givenName: null,
    jobTitle: null,
    mail: u.mail,
    mobilePhone: null,
    officeLocation: null,
    preferredLanguage: null,
    surname: null,
    userPrincipalName: u.userPrincipalName,
  };
}

/** Parses $select against a type's properties (case-insensitive, canonical names back). */
function parseSelect(req: SimRequest, known: string[] | null, typeName: string): string[] | undefined {
  const raw = req.query.get('$select');
  if (raw === null) return undefined;
  const names = raw.split(',').map((s) => s.trim());
  return names.map((name) => {
    if (!name) throw badRequest(`Invalid $select: '${raw}'.`);
    if (!known) return name;
    const canonical = known.find((k) => lower(k) === lower(name));
    if (!canonical) throw badRequest(`Could not find a property named '${name}' on type '${typeName}'.`);
    return canonical;
  });
}

function pick(full: Record<string, unknown>, select: string[] | undefined): Record<string, unknown> {
  if (!select) return full;
  const out: Record<string, unknown> = {};
  for (const s of select) out[s] = full[s];
  return out;
}

function parseTop(req: SimRequest): number {
  const raw = req.query.get('$top');
  if (raw === null) return 100;
  const n = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= 999))
    throw badRequest(`Invalid page size specified: '${raw}'. Must be between 1 and 999 inclusive.`);
  return n;
}

function rejectUnmodelled(req: SimRequest, allowed: string[]): void {
  for (const key of req.query.keys()) {
    if (!key.startsWith('$') || allowed.includes(key)) continue;
    if (key === '$skip')
      throw new GraphError(400, 'Request_UnsupportedQuery', "'$skip' is not supported by the service.");
    throw new GraphError(
      400,
      'Request_UnsupportedQuery',
      `The query option '${key}' is not supported by the simulated Graph on this path.`,
    );
  }
}

// ---- the service -----------------------------------------------------------------------------------------

export function createGraph(ctx: SimContext, opts: { throttling: boolean }): GraphService {
  const throttle = new GraphThrottle(opts.throttling);
  const control: GraphControl = {
    throttle,
    concurrency: { enabled: true, holdMs: 5 },
    removePasswordUnknownKeyId: REMOVE_UNKNOWN_KEY_DEFAULT,
  };
  controls.set(ctx.tenant, control);
  const inFlightWrites = new Set<string>();
  const tenant = ctx.tenant;
  const origin = () => ctx.origins.graph;
  const context = (fragment: string) => `${origin()}/v1.0/$metadata#${fragment}`;

  const hasAny = (call: Call, roles: string[]) => roles.some((r) => call.roles.has(r));
  const requireAny = (call: Call, roles: string[]) => {
    if (!hasAny(call, roles)) throw denied();
  };

  // Route params: [objectId, appId] for the two addressing forms.
  const findApp = (req: SimRequest): SimApplication | undefined => {
    const [id, appId] = req.params;
    if (appId !== undefined) return tenant.applicationByAppId(appId);
    if (id === undefined) return undefined;
    return tenant.applications.get(id) ?? tenant.applications.get(lower(id));
  };
  const resolveApp = (call: Call): SimApplication => {
    const app = findApp(call.req);
    const [id, appId] = call.req.params;
    if (!app) {
      if (appId !== undefined) call.req.subject = appId;
      throw notFound(appId !== undefined ? `appId=${appId}` : (id ?? ''));
    }
    call.req.subject = app.appId;
    return app;
  };
  const resolveSp = (call: Call): SimServicePrincipal => {
    const [id, appId] = call.req.params;
    const sp =
      appId !== undefined
        ? tenant.servicePrincipalByAppId(appId)
        : [...tenant.servicePrincipals.values()].find((s) => lower(s.id) === lower(id ?? ''));
    if (!sp) throw notFound(appId !== undefined ? `appId=${appId}` : (id ?? ''));
    return sp;
  };

  const canWrite = (call: Call, app: SimApplication) =>
    hasAny(call, APP_WRITE_ANY) ||
    (call.roles.has('Application.ReadWrite.OwnedBy') &&
      app.ownerIds.some((o) => lower(o) === lower(call.claims.oid)));

  /** Serialises writes per app the way Entra refuses overlapping ones (§I): the loser gets 400, not a wait. */
  async function exclusiveWrite<T>(app: SimApplication, fn: () => T): Promise<T> {
    if (!control.concurrency.enabled) return fn();
    if (inFlightWrites.has(app.id)) {
      throw badRequest(
        'Unable to complete the request because of concurrent requests on the same object. Please wait briefly and retry.',
      );
    }
    inFlightWrites.add(app.id);
    try {
      await sleep(control.concurrency.holdMs);
      return fn();
    } finally {
      inFlightWrites.delete(app.id);
    }
  }

  function appOut(app: SimApplication, select: string[] | undefined, call: Call, expandOwners: boolean) {
    const full: Record<string, unknown> = {};
    for (const [k, f] of Object.entries(APP_PROPERTIES)) full[k] = f(app, tenant);
    const out = pick(full, select);
    // $expand returns at most 20 related objects per parent.
    if (expandOwners)
      out.owners = ownersOf(app)
        .slice(0, 20)
        .map((o) => directoryObjectOut(o, undefined, call));
    return out;
  }

  type DirectoryObject = { kind: 'user'; user: SimUser } | { kind: 'sp'; sp: SimServicePrincipal };
  function ownersOf(app: SimApplication): DirectoryObject[] {
    const out: DirectoryObject[] = [];
    for (const id of app.ownerIds) {
      const user = tenant.users.get(id);
      if (user) out.push({ kind: 'user', user });
      const sp = tenant.servicePrincipals.get(id);
      if (sp) out.push({ kind: 'sp', sp });
    }
    return out.sort((a, b) => (objId(a) < objId(b) ? -1 : 1));
  }
  const objId = (o: DirectoryObject) => (o.kind === 'user' ? o.user.id : o.sp.id);

  /** A directoryObject in a relationship: limited information when the caller cannot read that type. */
  function directoryObjectOut(o: DirectoryObject, select: string[] | undefined, call: Call) {
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
      for (const [k, f] of Object.entries(SP_PROPERTIES)) if (k !== 'id') props[k] = f(o.sp, tenant);
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

  /** One page of a sorted collection, keyset-paged by id so inserts and deletes never skip items. */
  function page<T>(
    call: Call,
    items: T[],
    idOf: (t: T) => string,
    render: (t: T) => unknown,
    contextFragment: string,
  ) {
    const top = parseTop(call.req);
    const token = call.req.query.get('$skiptoken');
    let start = 0;
    if (token !== null) {
      let after: string;
      try {
        after = (JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after: string }).after;
      } catch {
        throw badRequest('The $skiptoken is invalid.');
      }
      if (typeof after !== 'string') throw badRequest('The $skiptoken is invalid.');
      start = items.findIndex((t) => lower(idOf(t)) > lower(after));
      if (start < 0) start = items.length;
    }
    const slice = items.slice(start, start + top);
    const body: Record<string, unknown> = { '@odata.context': context(contextFragment) };
    const count = call.req.query.get('$count');
    if (
      count !== null &&
      lower(count) === 'true' &&
      lower(header(call.req, 'consistencylevel') ?? '') === 'eventual'
    ) {
      body['@odata.count'] = items.length;
    }
    if (start + top < items.length) {
      const last = slice[slice.length - 1]!;
      const skiptoken = Buffer.from(JSON.stringify({ after: idOf(last) })).toString('base64url');
      const params: string[] = [];
      for (const [k, v] of call.req.query)
        if (k !== '$skiptoken') params.push(`${k}=${encodeURIComponent(v)}`);
      params.push(`$skiptoken=${skiptoken}`);
      body['@odata.nextLink'] = `${origin()}${call.req.url.pathname}?${params.join('&')}`;
    }
    body.value = slice.map(render);
    return body;
  }

  const ok = (body: unknown, status = 200): SimResponse => ({ status, body });
  const sortById = <T extends { id: string }>(xs: T[]) =>
    xs.sort((a, b) => (lower(a.id) < lower(b.id) ? -1 : 1));
  const selectFragment = (base: string, select: string[] | undefined, suffix = '') =>
    `${base}${select ? `(${select.join(',')})` : ''}${suffix}`;

  function parseExpand(req: SimRequest, typeName: string): boolean {
    const raw = req.query.get('$expand');
    if (raw === null) return false;
    const name = raw.trim();
    if (lower(name) !== 'owners')
      throw badRequest(`Could not find a property named '${name}' on type '${typeName}'.`);
    return true;
  }

  // ---- handlers ---------------------------------------------------------------------------------------

  const listApplications: GraphHandler = (call) => {
    requireAny(call, APP_READ);
    rejectUnmodelled(call.req, ['$select', '$filter', '$top', '$count', '$skiptoken', '$expand']);
    const select = parseSelect(call.req, Object.keys(APP_PROPERTIES), 'microsoft.graph.application');
    const expand = parseExpand(call.req, 'microsoft.graph.application');
    const filter = call.req.query.get('$filter');
    const predicate = filter !== null ? parseApplicationFilter(filter) : () => true;
    const apps = sortById([...tenant.applications.values()].filter(predicate));
    return ok(
      page(
        call,
        apps,
        (a) => a.id,
        (a) => appOut(a, select, call, expand),
        selectFragment('applications', select),
      ),
    );
  };

  const getApplication: GraphHandler = (call) => {
    rejectUnmodelled(call.req, ['$select', '$expand']);
    const select = parseSelect(call.req, Object.keys(APP_PROPERTIES), 'microsoft.graph.application');
    const expand = parseExpand(call.req, 'microsoft.graph.application');
    const app = resolveApp(call);
    // "A service principal can retrieve its own application and service principal details without being
    // granted any application permissions" (servicePrincipal get / application get, Permissions).
    if (lower(app.appId) !== lower(call.claims.appid)) requireAny(call, APP_READ);
    return ok({
      '@odata.context': context(selectFragment('applications', select, '/$entity')),
      ...appOut(app, select, call, expand),
    });
  };

  const addPassword: GraphHandler = async (call) => {
    requireAny(call, APP_READ);
    const app = resolveApp(call);
    if (!canWrite(call, app)) throw denied();
    const body = optionalJson(call.req) as { passwordCredential?: Record<string, unknown> };
    const pc = body.passwordCredential ?? {};
    const displayName = typeof pc.displayName === 'string' ? pc.displayName : null;
    const start = dateProperty(pc, 'startDateTime') ?? ctx.clock.now();
    const end = dateProperty(pc, 'endDateTime') ?? new Date(start.getTime() + 2 * 365 * DAY);
    return exclusiveWrite(app, () => {
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
      const maxDays = tenant.passwordLifetimeMaxDays;
      if (maxDays !== undefined && end.getTime() - start.getTime() > maxDays * DAY) {
        const message = `Credential lifetime exceeds the max value allowed as per assigned policy '${DEFAULT_POLICY_ID}'.`;
        throw new GraphError(400, 'CredentialInvalidLifetimeAsPerAppPolicy', message, [
          { code: 'InvalidKeyEndDate', message, target: 'EndDate' },
        ]);
      }
      const cred = tenant.issuePassword(app, { displayName, startDateTime: start, endDateTime: end });
      return ok({
        '@odata.context': context('microsoft.graph.passwordCredential'),
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

  const removePassword: GraphHandler = async (call) => {
    requireAny(call, APP_READ);
    const app = resolveApp(call);
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
    return exclusiveWrite(app, () => {
      const index = app.passwordCredentials.findIndex((p) => lower(p.keyId) === lower(keyId));
      if (index < 0) {
        const status = control.removePasswordUnknownKeyId;
        const code = status === 404 ? 'Request_ResourceNotFound' : 'Request_BadRequest';
        throw new GraphError(status, code, `No password credential found with keyId ${keyId}.`);
      }
      app.passwordCredentials.splice(index, 1);
      return { status: 204 };
    });
  };

  const listOwners: GraphHandler = (call) => {
    requireAny(call, APP_READ);
    rejectUnmodelled(call.req, ['$select', '$top', '$count', '$skiptoken']);
    const select = parseSelect(call.req, null, 'microsoft.graph.directoryObject');
    const app = resolveApp(call);
    return ok(
      page(call, ownersOf(app), objId, (o) => directoryObjectOut(o, select, call), 'directoryObjects'),
    );
  };

  const getServicePrincipal: GraphHandler = (call) => {
    rejectUnmodelled(call.req, ['$select']);
    const select = parseSelect(call.req, Object.keys(SP_PROPERTIES), 'microsoft.graph.servicePrincipal');
    const sp = resolveSp(call);
    if (lower(sp.id) !== lower(call.claims.oid)) requireAny(call, APP_READ);
    const full: Record<string, unknown> = {};
    for (const [k, f] of Object.entries(SP_PROPERTIES)) full[k] = f(sp, tenant);
    return ok({
      '@odata.context': context(selectFragment('servicePrincipals', select, '/$entity')),
      ...pick(full, select),
    });
  };

  /** GET /servicePrincipals: Application.Read.All or higher; OwnedBy lists every one too (documented). */
  const listServicePrincipals: GraphHandler = (call) => {
    requireAny(call, APP_READ);
    rejectUnmodelled(call.req, ['$select', '$filter', '$top', '$count', '$skiptoken']);
    const select = parseSelect(call.req, Object.keys(SP_PROPERTIES), 'microsoft.graph.servicePrincipal');
    const filter = call.req.query.get('$filter');
    const predicate = filter !== null ? parseServicePrincipalFilter(filter) : () => true;
    const sps = sortById([...tenant.servicePrincipals.values()].filter(predicate));
    const render = (sp: SimServicePrincipal) => {
      const full: Record<string, unknown> = {};
      for (const [k, f] of Object.entries(SP_PROPERTIES)) full[k] = f(sp, tenant);
      return pick(full, select);
    };
    return ok(page(call, sps, (sp) => sp.id, render, selectFragment('servicePrincipals', select)));
  };

  const listOwnedObjects: GraphHandler = (call) => {
    requireAny(call, APP_READ);
    rejectUnmodelled(call.req, ['$select', '$top', '$count', '$skiptoken']);
    const cast = call.req.params[2] !== undefined;
    // The cast form is typed (unknown properties are errors); the directoryObject form is not.
    const select = parseSelect(
      call.req,
      cast ? Object.keys(APP_PROPERTIES) : null,
      'microsoft.graph.application',
    );
    const sp = resolveSp(call);
    const owned = sortById(
      [...tenant.applications.values()].filter((a) => a.ownerIds.some((o) => lower(o) === lower(sp.id))),
    );
    const render = (a: SimApplication) => {
      if (cast) return appOut(a, select, call, false);
      const known = select?.filter((s) => Object.keys(APP_PROPERTIES).some((k) => lower(k) === lower(s)));
      const canonical = known?.map((s) => Object.keys(APP_PROPERTIES).find((k) => lower(k) === lower(s))!);
      return { '@odata.type': '#microsoft.graph.application', ...appOut(a, canonical, call, false) };
    };
    return ok(
      page(
        call,
        owned,
        (a) => a.id,
        render,
        cast ? selectFragment('applications', select) : 'directoryObjects',
      ),
    );
  };

  const getAppManagementPolicy: GraphHandler = (call) => {
    requireAny(call, POLICY_READ);
    const maxDays = tenant.passwordLifetimeMaxDays;
    return ok({
      '@odata.context': context('policies/defaultAppManagementPolicy/$entity'),
      id: DEFAULT_POLICY_ID,
      displayName: 'Default app management tenant policy',
      description:
        'Default tenant policy that enforces app management restrictions on applications and service principals.',
      isEnabled: maxDays !== undefined,
      applicationRestrictions: {
        passwordCredentials:
          maxDays === undefined
            ? []
            : [
                {
                  restrictionType: 'passwordLifetime',
                  state: 'enabled',
                  maxLifetime: `P${maxDays}D`,
                  restrictForAppsCreatedAfterDateTime: '2015-01-01T10:37:00Z',
                },
              ],
        keyCredentials: [],
      },
      servicePrincipalRestrictions: { passwordCredentials: [], keyCredentials: [] },
    });
  };

  // ---- $batch -----------------------------------------------------------------------------------------

  interface BatchItem {
    id: string;
    method: string;
    url: string;
    headers?: Record<string, string>;
    body?: unknown;
    dependsOn?: string[];
  }
  interface SubResponse {
    id: string;
    status: number;
    headers: Record<string, string>;
    body?: unknown;
  }
  const batchError = (message: string) => new GraphError(400, 'BadRequest', message);

  const batch: GraphHandler = async (call) => {
    let parsed: { requests?: unknown };
    try {
      parsed = JSON.parse(call.req.body.toString('utf8')) as { requests?: unknown };
    } catch {
      throw batchError('Invalid batch payload format.');
    }
    if (!parsed || !Array.isArray(parsed.requests)) throw batchError('Invalid batch payload format.');
    const items = parsed.requests as BatchItem[];
    if (items.length > BATCH_LIMIT) {
      throw batchError(
        `The number of requests in a batch (${items.length}) exceeds the limit of ${BATCH_LIMIT}.`,
      );
    }
    const seen = new Set<string>();
    for (const item of items) {
      if (!item || typeof item.id !== 'string' || item.id === '')
        throw batchError("Each batch request needs an 'id'.");
      if (typeof item.method !== 'string' || typeof item.url !== 'string') {
        throw batchError(`Batch request '${item.id}' needs a 'method' and a 'url'.`);
      }
      // Ids are case-insensitive; a duplicate fails the whole batch.
      if (seen.has(lower(item.id))) throw batchError(`Batch request id '${item.id}' is not unique.`);
      for (const dep of item.dependsOn ?? []) {
        if (typeof dep !== 'string' || !seen.has(lower(dep))) {
          throw batchError(
            `Batch request '${item.id}' depends on '${String(dep)}', which is not an earlier request.`,
          );
        }
      }
      seen.add(lower(item.id));
      const hasContentType = Object.keys(item.headers ?? {}).some((h) => lower(h) === 'content-type');
      if (item.body !== undefined && !hasContentType) {
        throw batchError(`Batch request '${item.id}' has a body but no Content-Type header.`);
      }
    }
    const results = new Map<string, Promise<SubResponse>>();
    for (const item of items) {
      const deps = (item.dependsOn ?? []).map((d) => results.get(lower(d))!);
      results.set(
        lower(item.id),
        (async () => {
          const done = await Promise.all(deps);
          if (done.some((d) => d.status < 200 || d.status > 299)) {
            return {
              id: item.id,
              status: 424,
              headers: { 'content-type': 'application/json' },
              body: errorBody(
                ctx.clock.now(),
                'FailedDependency',
                'The request depends on a request that failed.',
                randomUUID(),
                clientRequestIdOf(call.req),
              ),
            };
          }
          return runSubRequest(call.req, item);
        })(),
      );
    }
    return ok({ responses: await Promise.all(results.values()) });
  };

  function clientRequestIdOf(req: SimRequest): string {
    return header(req, 'client-request-id') ?? randomUUID();
  }

  async function runSubRequest(outer: SimRequest, item: BatchItem): Promise<SubResponse> {
    const started = Date.now();
    const toSub = (r: SimResponse): SubResponse => ({
      id: item.id,
      status: r.status,
      headers: batchHeaders(r.headers ?? {}),
      ...(r.body !== undefined ? { body: r.body } : {}),
    });
    let url = item.url.trim();
    if (/^[a-z]+:\/\//i.test(url)) {
      return toSub(
        errorResponse(
          new GraphError(400, 'BadRequest', 'Invalid request URL: batch requests use relative URLs.'),
          outer,
        ),
      );
    }
    if (!url.startsWith('/')) url = `/${url}`;
    // The JS SDK strips only scheme and host, so its URLs keep the /v1.0 prefix.
    if (!/^\/v1\.0(\/|\?|$)/i.test(url)) url = `/v1.0${url}`;
    const full = new URL(`${origin()}${url}`);
    let path: string;
    try {
      path = decodeURIComponent(full.pathname);
    } catch {
      path = full.pathname;
    }
    const method = item.method.toUpperCase();
    const route = routes.find((r) => r.method === method && r.pattern.test(path));
    const headers: SimRequest['headers'] = {};
    for (const [k, v] of Object.entries(item.headers ?? {})) headers[lower(k)] = String(v);
    headers.authorization = outer.headers.authorization;
    headers['client-request-id'] ??= clientRequestIdOf(outer);
    const body =
      item.body === undefined
        ? Buffer.alloc(0)
        : typeof item.body === 'string'
          ? Buffer.from(item.body)
          : Buffer.from(JSON.stringify(item.body));
    const sub: SimRequest = {
      service: 'graph',
      op: route?.op ?? 'graph.unknown',
      method,
      url: full,
      path,
      query: full.searchParams,
      headers,
      body,
      params: route ? (path.match(route.pattern) ?? []).slice(1) : [],
    };
    let response: SimResponse;
    let faultName: string | undefined;
    const fault = ctx.faults.take(sub);
    const rate = ctx.faults.random429Rate.graph ?? 0;
    if (route?.op === 'graph.batch') {
      response = errorResponse(
        new GraphError(400, 'BadRequest', 'A batch request cannot contain another batch.'),
        sub,
      );
    } else if (fault && fault.kind === 'status') {
      const status = fault.status ?? 500;
      const extra: Record<string, string> =
        fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {};
      response = errorResponse(
        new GraphError(
          status,
          fault.code ?? defaultCode(status),
          fault.message ?? `Simulated fault: ${status} on ${sub.op}.`,
          undefined,
          extra,
        ),
        sub,
      );
      faultName = `status ${status}`;
    } else if (!fault && rate > 0 && Math.random() < rate) {
      response = errorResponse(
        new GraphError(
          429,
          'TooManyRequests',
          'Too many requests (simulated random throttling).',
          undefined,
          {
            'retry-after': String(ctx.faults.random429RetryAfterSeconds),
          },
        ),
        sub,
      );
      faultName = 'random429';
    } else if (fault && (fault.kind === 'reset' || fault.kind === 'hang')) {
      // A broken connection behind the batch endpoint surfaces as a gateway timeout of that sub-request.
      response = errorResponse(new GraphError(504, 'GatewayTimeout', 'The request timed out.'), sub);
      faultName = fault.kind;
    } else {
      response = await route!.handler(sub);
      if (fault) {
        // commitThen*: the change happened, but the caller never learns the outcome.
        fault.onCommitted?.(sub);
        response = errorResponse(new GraphError(504, 'GatewayTimeout', 'The request timed out.'), sub);
        faultName = fault.kind;
      }
    }
    ctx.log.record({
      at: started,
      service: 'graph',
      op: sub.op,
      method,
      path,
      query: full.search,
      status: response.status,
      durationMs: Date.now() - started,
      subject: sub.subject,
      fault: faultName,
    });
    return toSub(response);
  }

  // ---- wiring -----------------------------------------------------------------------------------------

  function errorResponse(
    err: SimHttpError,
    req: SimRequest,
    extraHeaders: Record<string, string> = {},
    requestId: string = randomUUID(),
  ): SimResponse {
    const clientRequestId = header(req, 'client-request-id') ?? requestId;
    return {
      status: err.status,
      headers: {
        'content-type': 'application/json',
        'request-id': requestId,
        'client-request-id': clientRequestId,
        ...err.headers,
        ...extraHeaders,
      },
      body: errorBody(
        ctx.clock.now(),
        err.code,
        err.message,
        requestId,
        clientRequestId,
        err instanceof GraphError ? err.details : undefined,
      ),
    };
  }

  /** Authentication, throttling, common headers and error bodies around one operation. */
  function wrap(op: string, handler: GraphHandler, opts: { auth?: boolean } = {}): Handler {
    return async (req) => {
      const requestId = randomUUID();
      const clientRequestId = header(req, 'client-request-id') ?? requestId;
      const common: Record<string, string> = {
        'request-id': requestId,
        'client-request-id': clientRequestId,
      };
      try {
        if (opts.auth === false) return await handler({ req, claims: {} as AccessClaims, roles: new Set() });
        const claims = await ctx.issuer.verify(
          req,
          [ctx.origins.graph, GRAPH_RESOURCE],
          undefined,
          ctx.clock.now(),
        );
        if (claims.tid !== tenant.tenantId) {
          throw new SimHttpError(
            401,
            'InvalidAuthenticationToken',
            'Access token validation failure. Invalid audience or tenant.',
          );
        }
        const call: Call = { req, claims, roles: new Set(claims.roles ?? []) };
        if (op === 'graph.batch') {
          const r = await handler(call);
          return { ...r, headers: { 'content-type': JSON_TYPE, ...common, ...r.headers } };
        }
        const cost = resourceUnitCost(op, req.query);
        common['x-ms-resource-unit'] = String(cost);
        const isWrite = WRITE_OPS.has(op);
        const target = isWrite ? findApp(req) : undefined;
        const decision = throttle.admit(
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
        const r = await handler(call);
        const typed: Record<string, string> = r.body !== undefined ? { 'content-type': JSON_TYPE } : {};
        return { ...r, headers: { ...typed, ...common, ...r.headers } };
      } catch (err) {
        if (!(err instanceof SimHttpError)) throw err;
        return errorResponse(err, req, common, requestId);
      }
    };
  }

  const REF = String.raw`(?:/([^/()]+)|\(appId='([^'/]*)'\))`;
  const re = (s: string) => new RegExp(`^/v1\\.0/${s}$`, 'i');
  const routes: Route[] = [
    {
      method: 'GET',
      pattern: re('applications/?'),
      op: 'graph.listApplications',
      handler: wrap('graph.listApplications', listApplications),
    },
    {
      method: 'GET',
      pattern: re(`applications${REF}`),
      op: 'graph.getApplication',
      handler: wrap('graph.getApplication', getApplication),
    },
    {
      method: 'POST',
      pattern: re(`applications${REF}/addPassword`),
      op: 'graph.addPassword',
      handler: wrap('graph.addPassword', addPassword),
    },
    {
      method: 'POST',
      pattern: re(`applications${REF}/removePassword`),
      op: 'graph.removePassword',
      handler: wrap('graph.removePassword', removePassword),
    },
    {
      method: 'GET',
      pattern: re(`applications${REF}/owners/?`),
      op: 'graph.listOwners',
      handler: wrap('graph.listOwners', listOwners),
    },
    {
      method: 'GET',
      pattern: re('servicePrincipals/?'),
      op: 'graph.listServicePrincipals',
      handler: wrap('graph.listServicePrincipals', listServicePrincipals),
    },
    {
      method: 'GET',
      pattern: re(`servicePrincipals${REF}`),
      op: 'graph.getServicePrincipal',
      handler: wrap('graph.getServicePrincipal', getServicePrincipal),
    },
    {
      method: 'GET',
      pattern: re(`servicePrincipals${REF}/ownedObjects(/microsoft\\.graph\\.application)?/?`),
      op: 'graph.listOwnedObjects',
      handler: wrap('graph.listOwnedObjects', listOwnedObjects),
    },
    {
      method: 'GET',
      pattern: re('policies/defaultAppManagementPolicy'),
      op: 'graph.getAppManagementPolicy',
      handler: wrap('graph.getAppManagementPolicy', getAppManagementPolicy),
    },
    { method: 'POST', pattern: re('\\$batch'), op: 'graph.batch', handler: wrap('graph.batch', batch) },
  ];
  // Anything else is answered the way Graph answers an unknown segment (and not by the kernel's generic 404).
  const unknown: GraphHandler = (call) => {
    const segment = call.req.path.split('/').filter(Boolean).pop() ?? '';
    throw new GraphError(400, 'BadRequest', `Resource not found for the segment '${segment}'.`);
  };
  for (const method of ['GET', 'POST', 'PATCH', 'PUT', 'DELETE']) {
    routes.push({
      method,
      pattern: /^\//,
      op: 'graph.unknown',
      handler: wrap('graph.unknown', unknown, { auth: false }),
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

/** Sub-response headers as Graph writes them (Content-Type, Retry-After); the JS SDK looks up "Content-Type" exactly. */
function batchHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    const key = /^(x-ms-|request-id$|client-request-id$)/i.test(k)
      ? k.toLowerCase()
      : k.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
    out[key] = v;
  }
  return out;
}

function defaultCode(status: number): string {
  return (
    (
      {
        400: 'BadRequest',
        401: 'InvalidAuthenticationToken',
        403: 'Authorization_RequestDenied',
        404: 'Request_ResourceNotFound',
        429: 'TooManyRequests',
        500: 'InternalServerError',
        503: 'ServiceUnavailable',
        504: 'GatewayTimeout',
      } as Record<number, string>
    )[status] ?? 'UnknownError'
  );
}

/** addPassword and removePassword accept an empty body; anything present must be a JSON object. */
function optionalJson(req: SimRequest): Record<string, unknown> {
  if (req.body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(req.body.toString('utf8'));
  } catch {
    throw badRequest('The request body is not valid JSON.');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw badRequest('The request body must be a JSON object.');
  return value as Record<string, unknown>;
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
