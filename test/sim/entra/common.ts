// What the simulated authority and managed-identity endpoint share: token minting for a principal, Entra's error
// body and timestamps, and the tenant segment of authority URLs.
import { randomUUID } from 'node:crypto';
import type { SimContext } from '../cloud.js';
import { SimHttpError, type ErrorShape, type SimRequest } from '../http.js';
import type { SimServicePrincipal } from '../tenant.js';
import { normalizeAudience } from '../tokens.js';

const GRAPH_PUBLIC = 'https://graph.microsoft.com';
/** Entra answers client-credential tokens with expires_in 3599. */
export const TOKEN_LIFETIME = 3599;

/** Claims for a principal: `roles` only in Graph tokens, because only Graph app roles are modelled. */
export async function mintFor(ctx: SimContext, sp: SimServicePrincipal, audience: string): Promise<string> {
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

export const entraErrors = (ctx: SimContext): ErrorShape => ({
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

export function headerValue(req: SimRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The tenant segment must be this tenant's id (no domain names, no common/organizations). */
export function tenantOf(ctx: SimContext, req: SimRequest): string {
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
}
