// Who is calling the HTTP API, and may they (contract.md §8 "HTTP callers"). Every call carries an Entra access
// token for the rotator's own API: issued by the tenant, signed with a key the authority publishes, meant for one
// of API_AUDIENCE, and carrying the app role the action needs. Pure of Azure Functions types, so every handler
// (and the CLI's tests) can use it; the refusals say what was wrong and what to do, and never echo the token.
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import { systemClock, type Clock } from '../util/clock.js';

export const ROLES = {
  read: 'Rotation.Read',
  rotate: 'Rotation.Rotate',
  force: 'Rotation.Force',
} as const;
export type Role = (typeof ROLES)[keyof typeof ROLES];

export interface CallerAuthConfig {
  /** AZURE_AUTHORITY_HOST, e.g. https://login.microsoftonline.com */
  authorityHost: string;
  /** The tenant GUID (the issuer names the GUID, never a domain). */
  tenantId: string;
  /** API_AUDIENCE: the API's client id and/or its application ID URI. Empty: every call is refused (500). */
  audiences: string[];
  clock?: Clock;
}

/** Who asked, as the report's `requestedBy` and the run log record it. */
export interface Caller {
  oid: string;
  appId?: string;
  name?: string;
}

export type CallerCheck =
  | { ok: true; caller: Caller; roles: string[] }
  | {
      ok: false;
      status: 401 | 403 | 500 | 503;
      code: string;
      message: string;
      /** `WWW-Authenticate` on a 401, as RFC 6750 asks. */
      headers: Record<string, string>;
    };

/** Thrown by requireCaller; carries what the HTTP answer needs (`{"error": {code, message}}`, status, headers). */
export class CallerRefused extends Error {
  constructor(
    readonly status: 401 | 403 | 500 | 503,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'CallerRefused';
  }
}

/** Tokens a few seconds off because of clock drift between Entra and this host are still accepted. */
const CLOCK_TOLERANCE_SECONDS = 60;
const MAX_ECHO = 120;

// One key set per JWKS address per process: jose caches the keys (10 min) and refetches on an unknown `kid`
// (key rollover) at most every 30 s, so a flood of forged tokens cannot make us hammer the authority.
const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
function keySetFor(url: string) {
  let set = keySets.get(url);
  if (!set) {
    set = createRemoteJWKSet(new URL(url), { timeoutDuration: 10_000 });
    keySets.set(url, set);
  }
  return set;
}

class KeysUnavailable extends Error {}

export function issuerFor(authorityHost: string, tenantId: string): string {
  return `${authorityHost.replace(/\/+$/, '')}/${tenantId}/v2.0`;
}
export function jwksUrlFor(authorityHost: string, tenantId: string): string {
  return `${authorityHost.replace(/\/+$/, '')}/${tenantId}/discovery/v2.0/keys`;
}

/** The roles an action needs: Read for scan/runs/status, Rotate for POST /api/rotate, plus Force for force/all/revoke. */
export function rolesForRotate(body: { force?: boolean; all?: boolean; revokeSuperseded?: boolean }): Role[] {
  return body.force || body.all || body.revokeSuperseded ? [ROLES.rotate, ROLES.force] : [ROLES.rotate];
}

/**
 * Checks the `Authorization` header of a call against the tenant and the roles the action needs.
 * 401: no token, or a token that is not a valid one for this API; 403: a valid token without a needed role;
 * 500: API_AUDIENCE not set; 503: the authority's keys could not be fetched.
 */
export async function authorizeCaller(
  authorization: string | null | undefined,
  config: CallerAuthConfig,
  requiredRoles: readonly Role[],
): Promise<CallerCheck> {
  const audiences = config.audiences.map((a) => a.trim()).filter(Boolean);
  if (!audiences.length)
    return refuse(
      500,
      'caller_auth_not_configured',
      'API_AUDIENCE is not set, so no caller can be checked; the operator must set it to the client id (and application ID URI) of the rotator API app registration',
    );
  const match = /^Bearer[ ]+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(authorization ?? '');
  if (!match)
    return unauthorized(
      authorization ? 'invalid_request' : 'missing_token',
      authorization
        ? 'the Authorization header is not "Bearer <access token>"'
        : `no access token: send "Authorization: Bearer <token>" with a token for this API (API_AUDIENCE, e.g. ${quote(audiences[0])})`,
    );
  const issuer = issuerFor(config.authorityHost, config.tenantId);
  const keys = keySetFor(jwksUrlFor(config.authorityHost, config.tenantId));
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(
      match[1]!,
      async (header, token) => {
        try {
          return await keys(header, token);
        } catch (err) {
          if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys)
            throw err;
          throw new KeysUnavailable(String((err as Error).message));
        }
      },
      {
        issuer,
        audience: audiences,
        algorithms: ['RS256'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: (config.clock ?? systemClock).now(),
      },
    ));
  } catch (err) {
    return explain(err, issuer, audiences, config.tenantId);
  }
  const roles = Array.isArray(payload.roles) ? payload.roles.filter((r) => typeof r === 'string') : [];
  const caller = callerOf(payload);
  if (!caller)
    return unauthorized(
      'invalid_token',
      'the token names no caller (no "oid" claim); use an Entra access token',
    );
  return checkRoles({ caller, roles }, requiredRoles);
}

/** A verified caller and the app roles its token carries. */
export interface VerifiedCaller {
  caller: Caller;
  roles: string[];
}

/** 403 unless the verified caller holds every required role (for a second check once the request says more). */
function checkRoles(verified: VerifiedCaller, requiredRoles: readonly Role[]): CallerCheck {
  const { caller, roles } = verified;
  const missing = requiredRoles.filter((r) => !roles.includes(r));
  if (missing.length)
    return refuse(
      403,
      'forbidden',
      `the caller ${caller.appId ?? caller.oid} lacks the app role ${missing.join(' and ')} of this API; ` +
        `an admin must assign ${missing.length === 1 ? 'it' : 'them'} to the caller (Enterprise applications > the rotator API > Users and groups, or an appRoleAssignment), then get a new token`,
    );
  return { ok: true, caller, roles };
}

/** checkRoles for handlers: throws CallerRefused (403) when a role is missing. */
export function requireRoles(verified: VerifiedCaller, requiredRoles: readonly Role[]): void {
  const check = checkRoles(verified, requiredRoles);
  if (!check.ok) throw new CallerRefused(check.status, check.code, check.message, check.headers);
}

/** authorizeCaller for handlers: returns the caller or throws CallerRefused (map it like an HttpError). */
export async function requireCaller(
  authorization: string | null | undefined,
  config: CallerAuthConfig,
  requiredRoles: readonly Role[],
): Promise<Caller> {
  return (await requireVerified(authorization, config, requiredRoles)).caller;
}

/** requireCaller with the token's roles, for a handler that checks more roles once it has read the request. */
export async function requireVerified(
  authorization: string | null | undefined,
  config: CallerAuthConfig,
  requiredRoles: readonly Role[],
): Promise<VerifiedCaller> {
  const check = await authorizeCaller(authorization, config, requiredRoles);
  if (!check.ok) throw new CallerRefused(check.status, check.code, check.message, check.headers);
  return { caller: check.caller, roles: check.roles };
}

function callerOf(p: JWTPayload): Caller | undefined {
  const str = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim().slice(0, MAX_ECHO) : undefined);
  const oid = str(p.oid);
  if (!oid) return undefined;
  // v2 tokens name the calling app in azp, v1 in appid; people have a name, apps may carry app_displayname.
  const appId = str(p.azp) ?? str(p.appid);
  const name = str(p.name) ?? str(p.app_displayname) ?? str(p.preferred_username);
  return { oid, ...(appId ? { appId } : {}), ...(name ? { name } : {}) };
}

function explain(err: unknown, issuer: string, audiences: string[], tenantId: string): CallerCheck {
  if (err instanceof KeysUnavailable)
    return refuse(
      503,
      'keys_unavailable',
      `could not fetch the signing keys of tenant ${tenantId} from the authority (AZURE_AUTHORITY_HOST); try again later`,
    );
  if (err instanceof errors.JWTExpired) {
    const exp = typeof err.payload.exp === 'number' ? new Date(err.payload.exp * 1000).toISOString() : '?';
    return unauthorized('invalid_token', `the token expired at ${exp}; get a new one`);
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    const got = quote(err.payload[err.claim]);
    if (err.claim === 'aud')
      return unauthorized(
        'invalid_token',
        `the token's audience ${got} is not this API (API_AUDIENCE: ${audiences.map(quote).join(', ')}); request the token for <API_AUDIENCE>/.default`,
      );
    if (err.claim === 'iss')
      return unauthorized(
        'invalid_token',
        `the token's issuer ${got} is not this tenant (expected ${quote(issuer)}); get the token from tenant ${tenantId}` +
          (/sts\.windows\.net/.test(String(err.payload.iss))
            ? ', and set requestedAccessTokenVersion to 2 on the API app registration (this is a v1 token)'
            : ''),
      );
    if (err.claim === 'nbf')
      return unauthorized('invalid_token', 'the token is not valid yet; check the clocks');
    return unauthorized('invalid_token', `the token's "${err.claim}" claim is ${err.reason}`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed)
    return unauthorized('invalid_token', 'the token is not signed with RS256, as Entra access tokens are');
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys)
    return unauthorized(
      'invalid_token',
      `the token is not signed by a key tenant ${tenantId} publishes; use an access token issued by that tenant`,
    );
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return unauthorized(
      'invalid_token',
      'the token signature is not valid; use an access token issued by Entra',
    );
  return unauthorized(
    'invalid_token',
    'the token is malformed (not a signed JWT); send an Entra access token',
  );
}

/** A claim value for a message: a short JSON string, whatever the caller put there. */
function quote(v: unknown): string {
  const s = JSON.stringify(v === undefined ? null : v) ?? 'null';
  return s.length > MAX_ECHO ? `${s.slice(0, MAX_ECHO)}…` : s;
}

function unauthorized(code: string, message: string): CallerCheck {
  // RFC 6750: no error attribute when no token was sent; the description is a quoted-string of printable ASCII
  // (a claim value quoted in the message may hold anything).
  const description = message.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, '?');
  const challenge =
    code === 'missing_token' ? 'Bearer' : `Bearer error="${code}", error_description="${description}"`;
  return refuse(401, code, message, { 'www-authenticate': challenge });
}

function refuse(
  status: 401 | 403 | 500 | 503,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): CallerCheck {
  return { ok: false, status, code, message, headers };
}
