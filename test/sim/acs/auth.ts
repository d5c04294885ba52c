// How ACS Email admits a request: an Entra token for https://communication.azure.com from a principal allowed to
// send, or the access-key HMAC scheme of @azure/communication-common.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { SimContext } from '../cloud.js';
import { SimHttpError, type SimRequest } from '../http.js';

const ACS_AUDIENCE = 'https://communication.azure.com';
/** The service rejects an x-ms-date further than this from its own clock. */
const MAX_CLOCK_SKEW_MS = 15 * 60_000;

export function header(req: SimRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function requireApiVersion(req: SimRequest): void {
  if (!req.query.get('api-version')) {
    throw new SimHttpError(
      400,
      'MissingApiVersionParameter',
      'The api-version query parameter (?api-version=) is required for all requests.',
    );
  }
}

export async function authenticate(
  ctx: SimContext,
  req: SimRequest,
): Promise<{ auth: 'hmac' | 'entra'; oid?: string }> {
  const authorization = header(req, 'authorization') ?? '';
  if (/^Bearer\s/i.test(authorization)) {
    const claims = await ctx.issuer.verify(req, ACS_AUDIENCE, 'Denied', ctx.clock.now());
    if (claims.tid !== ctx.tenant.tenantId) {
      throw new SimHttpError(401, 'Denied', 'The token was issued by a tenant this resource does not trust.');
    }
    if (!ctx.acsSenders.has(claims.oid)) {
      throw new SimHttpError(
        403,
        'Forbidden',
        `The principal '${claims.oid}' does not have permission to send email with this Communication Services resource.`,
      );
    }
    return { auth: 'entra', oid: claims.oid };
  }
  verifyHmac(ctx, req, authorization);
  return { auth: 'hmac' };
}

/** The access-key scheme of communication-common: HMAC-SHA256 over verb, path+query, date, host and body hash. */
function verifyHmac(ctx: SimContext, req: SimRequest, authorization: string): void {
  const deny = (message: string) => new SimHttpError(401, 'Denied', message);
  const m = /^HMAC-SHA256\s+SignedHeaders=([^&\s]+)&Signature=(\S+)$/i.exec(authorization);
  if (!m)
    throw deny('Denied by the resource provider: no valid Authorization header (HMAC-SHA256 or Bearer).');
  const signedHeaders = m[1]!.toLowerCase().split(';');
  for (const required of ['x-ms-date', 'host', 'x-ms-content-sha256']) {
    if (!signedHeaders.includes(required))
      throw deny(`Denied by the resource provider: '${required}' must be signed.`);
  }
  const date = header(req, 'x-ms-date') ?? header(req, 'date');
  const dateMs = date ? Date.parse(date) : NaN;
  if (Number.isNaN(dateMs))
    throw deny('Denied by the resource provider: the x-ms-date header is missing or invalid.');
  // Real time, not the cloud's clock: the SDK stamps x-ms-date from its own Date.now().
  if (Math.abs(Date.now() - dateMs) > MAX_CLOCK_SKEW_MS) {
    throw deny(
      'Denied by the resource provider: the request time (x-ms-date) is outside the allowed clock skew.',
    );
  }
  const bodyHash = createHash('sha256').update(req.body).digest('base64');
  if (header(req, 'x-ms-content-sha256') !== bodyHash) {
    throw deny('Denied by the resource provider: x-ms-content-sha256 does not match the request body.');
  }
  const values = signedHeaders.map((h) =>
    h === 'host' ? (header(req, 'host') ?? req.url.host) : (header(req, h) ?? ''),
  );
  const query = req.url.searchParams.toString();
  const pathAndQuery = query ? `${req.url.pathname}?${query}` : req.url.pathname;
  const stringToSign = `${req.method}\n${pathAndQuery}\n${values.join(';')}`;
  const expected = createHmac('sha256', Buffer.from(ctx.acsAccessKey, 'base64'))
    .update(stringToSign)
    .digest();
  const given = Buffer.from(m[2]!, 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw deny('Denied by the resource provider: the request signature is invalid.');
  }
}
