// The simulated Entra ID: the token authority (OpenID metadata, JWKS, client-credentials token endpoint)
// and the App Service style managed identity endpoint. Both mint tokens with the cloud's TokenIssuer for
// principals of the simulated tenant, so every other simulator can verify them.
import { randomUUID } from 'node:crypto';
import type { SimContext, SimService } from './cloud.js';
import { SimHttpError, type ErrorShape, type SimRequest, type SimResponse } from './http.js';
import type { AuthFailure, SimServicePrincipal } from './tenant.js';
import { normalizeAudience } from './tokens.js';

const GRAPH_PUBLIC = 'https://graph.microsoft.com';
/** Entra answers client-credential tokens with expires_in 3599. */
const TOKEN_LIFETIME = 3599;

export function createEntra(ctx: SimContext): { authority: SimService; managedIdentity: SimService } {
  return { authority: authority(ctx), managedIdentity: managedIdentity(ctx) };
}

/** Claims for a principal: `roles` only in Graph tokens, because only Graph app roles are modelled. */
async function mintFor(ctx: SimContext, sp: SimServicePrincipal, audience: string): Promise<string> {
  const aud = normalizeAudience(audience);
  const isGraph = aud === GRAPH_PUBLIC || aud === normalizeAudience(ctx.origins.graph);
  return ctx.issuer.mint(
    {
      aud,
      tid: ctx.tenant.tenantId,
      oid: sp.id,
      appid: sp.appId,
      ...(isGraph ? { roles: [...sp.graphRoles] } : {}),
    },
    { lifetimeSeconds: TOKEN_LIFETIME, nowSeconds: ctx.clock.nowSeconds() },
  );
}

// ---------------------------------------------------------------------------------------------------
// Token authority (https)

/** Entra's timestamp format in error bodies: "2024-05-01 10:20:30Z". */
function entraTimestamp(d: Date): string {
  return d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

/** Kernel fault codes are HTTP-ish names ("TooManyRequests"); Entra speaks OAuth error codes. */
function oauthCode(status: number, code: string): string {
  if (/^[a-z_]+$/.test(code)) return code;
  if (status === 429 || status === 503) return 'temporarily_unavailable';
  if (status >= 500) return 'server_error';
  if (status === 401) return 'invalid_client';
  return 'invalid_request';
}

const entraErrors = (ctx: SimContext): ErrorShape => ({
  body(status, code, message, req) {
    const n = /^AADSTS(\d+)/.exec(message)?.[1];
    const traceId = randomUUID();
    const correlationId =
      req.query.get('client-request-id') ?? headerValue(req, 'client-request-id') ?? randomUUID();
    const timestamp = entraTimestamp(ctx.clock.now());
    return {
      error: oauthCode(status, code),
      error_description: `${message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
      error_codes: n ? [Number(n)] : [],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      ...(n ? { error_uri: `https://login.microsoftonline.com/error?code=${n}` } : {}),
      // Conditional Access blocks carry a suberror: nothing the client can do interactively fixes them.
      ...(n === '53003' ? { suberror: 'message_only' } : {}),
    };
  },
});

function headerValue(req: SimRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function authority(ctx: SimContext): SimService {
  /** The tenant segment must be this tenant's id (no domain names, no common/organizations). */
  const tenantOf = (req: SimRequest): string => {
    const segment = req.params[0] ?? '';
    if (segment.toLowerCase() !== ctx.tenant.tenantId.toLowerCase()) {
      throw new SimHttpError(
        400,
        'invalid_request',
        `AADSTS90002: Tenant '${segment}' not found. Check to make sure you have the correct tenant ID and are ` +
          'signing into the correct cloud. Check with your subscription administrator, this may happen if there ' +
          'are no active subscriptions for the tenant.',
      );
    }
    return ctx.tenant.tenantId;
  };

  const openidConfiguration = (req: SimRequest): SimResponse => {
    const tid = tenantOf(req);
    const base = `${ctx.origins.entra}/${tid}`;
    return {
      status: 200,
      body: {
        token_endpoint: `${base}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: [
          'client_secret_post',
          'private_key_jwt',
          'client_secret_basic',
        ],
        jwks_uri: `${base}/discovery/v2.0/keys`,
        response_modes_supported: ['query', 'fragment', 'form_post'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        issuer: `${base}/v2.0`,
        request_uri_parameter_supported: false,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        http_logout_supported: true,
        frontchannel_logout_supported: true,
        claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'oid', 'tid', 'roles'],
        tenant_region_scope: 'EU',
        cloud_instance_name: 'microsoftonline.com',
        cloud_graph_host_name: 'graph.windows.net',
        msgraph_host: 'graph.microsoft.com',
      },
    };
  };

  const keys = (req: SimRequest): SimResponse => {
    tenantOf(req);
    return { status: 200, body: { keys: [ctx.issuer.jwk] } };
  };

  const token = async (req: SimRequest): Promise<SimResponse> => {
    tenantOf(req);
    const form = new URLSearchParams(req.body.toString('utf8'));
    const grantType = form.get('grant_type');
    const clientId = form.get('client_id');
    const secret = form.get('client_secret');
    const scope = form.get('scope');
    if (!grantType) {
      throw new SimHttpError(
        400,
        'invalid_request',
        "AADSTS900144: The request body must contain the following parameter: 'grant_type'.",
      );
    }
    if (grantType !== 'client_credentials') {
      // The simulator only models the client-credentials grant (what the rotator and its proofs use).
      throw new SimHttpError(
        400,
        'unsupported_grant_type',
        `AADSTS70003: The app requested an unsupported grant type '${grantType}'.`,
      );
    }
    if (!clientId) {
      throw new SimHttpError(
        400,
        'invalid_request',
        "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
      );
    }
    req.subject = clientId;
    if (!scope) {
      throw new SimHttpError(
        400,
        'invalid_request',
        "AADSTS900144: The request body must contain the following parameter: 'scope'.",
      );
    }
    const scopes = scope.split(' ').filter(Boolean);
    if (scopes.length !== 1) {
      throw new SimHttpError(
        400,
        'invalid_scope',
        `AADSTS70011: The provided request must include a 'scope' input parameter. The provided value for the ` +
          `input parameter 'scope' is not valid. The scope ${scope} is not valid.`,
      );
    }
    const only = scopes[0]!;
    if (!only.endsWith('/.default')) {
      throw new SimHttpError(
        400,
        'invalid_scope',
        `AADSTS1002012: The provided value for scope ${only} is not valid. Client credential flows must have a ` +
          'scope value with /.default suffixed to the resource identifier (application ID URI).',
      );
    }
    if (!secret) {
      throw new SimHttpError(
        401,
        'invalid_client',
        "AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
      );
    }
    const result = ctx.tenant.authenticate(clientId, secret);
    if (!('ok' in result)) {
      // The tenant's messages never contain the secret itself.
      const [status, error] = SIGN_IN_ERRORS[result.code];
      throw new SimHttpError(status, error, `${result.code}: ${result.message}`);
    }
    const sp = ctx.tenant.servicePrincipalByAppId(result.appId);
    if (!sp) throw new Error(`tenant.authenticate admitted ${result.appId}, which has no service principal`);
    const resource = only.slice(0, -'/.default'.length);
    return {
      status: 200,
      headers: { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' },
      body: {
        token_type: 'Bearer',
        expires_in: TOKEN_LIFETIME,
        ext_expires_in: TOKEN_LIFETIME,
        access_token: await mintFor(ctx, sp, resource),
      },
    };
  };

  return {
    errors: entraErrors(ctx),
    routes: [
      {
        method: 'GET',
        pattern: /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/,
        op: 'entra.openidConfiguration',
        handler: openidConfiguration,
      },
      { method: 'GET', pattern: /^\/([^/]+)\/discovery\/v2\.0\/keys$/, op: 'entra.keys', handler: keys },
      { method: 'POST', pattern: /^\/([^/]+)\/oauth2\/v2\.0\/token$/, op: 'entra.token', handler: token },
    ],
  };
}

/** HTTP status and OAuth error of each sign-in failure, as Entra answers them. */
const SIGN_IN_ERRORS: Record<AuthFailure['code'], [number, string]> = {
  AADSTS700016: [400, 'unauthorized_client'],
  AADSTS7000229: [401, 'invalid_client'],
  AADSTS7000215: [401, 'invalid_client'],
  AADSTS7000222: [401, 'invalid_client'],
  AADSTS53003: [400, 'interaction_required'],
};

// ---------------------------------------------------------------------------------------------------
// Managed identity endpoint (App Service style, plain http)

const miErrors: ErrorShape = {
  // App Service's identity endpoint answers errors as {statusCode, message, correlationId}.
  body: (status, _code, message) => ({ statusCode: status, message, correlationId: randomUUID() }),
};

function managedIdentity(ctx: SimContext): SimService {
  const token = async (req: SimRequest): Promise<SimResponse> => {
    if (headerValue(req, 'x-identity-header') !== ctx.identityHeader) {
      throw new SimHttpError(
        401,
        'Unauthorized',
        'The X-IDENTITY-HEADER header is missing or does not match.',
      );
    }
    const apiVersion = req.query.get('api-version');
    if (!apiVersion)
      throw new SimHttpError(400, 'BadRequest', 'The api-version query parameter is required.');
    if (apiVersion !== '2019-08-01') {
      throw new SimHttpError(
        400,
        'BadRequest',
        `The api-version '${apiVersion}' is not supported; use 2019-08-01.`,
      );
    }
    const resource = req.query.get('resource');
    if (!resource) throw new SimHttpError(400, 'BadRequest', 'The resource query parameter is required.');
    // Only the rotator's identity is assigned to this app. Unknown identities get 400, never 404/410,
    // which @azure/identity would retry five times with growing delays.
    const clientId = req.query.get('client_id');
    const objectId = req.query.get('object_id') ?? req.query.get('principal_id');
    const resId = req.query.get('mi_res_id') ?? req.query.get('msi_res_id');
    if (
      (clientId !== null && clientId.toLowerCase() !== ctx.rotator.appId.toLowerCase()) ||
      (objectId !== null && objectId.toLowerCase() !== ctx.rotator.id.toLowerCase()) ||
      resId !== null
    ) {
      throw new SimHttpError(
        400,
        'BadRequest',
        'Unable to load the proper Managed Identity: no identity with the requested id is assigned to this app.',
      );
    }
    req.subject = ctx.rotator.appId;
    return {
      status: 200,
      body: {
        access_token: await mintFor(ctx, ctx.rotator, resource),
        // In real time, not the cloud's: the SDK caches the token by this against its own Date.now().
        expires_on: String(Math.floor(Date.now() / 1000) + TOKEN_LIFETIME),
        resource,
        token_type: 'Bearer',
        client_id: ctx.rotator.appId,
      },
    };
  };

  return {
    errors: miErrors,
    routes: [{ method: 'GET', pattern: /^\/msi\/token\/?$/, op: 'mi.token', handler: token }],
  };
}
