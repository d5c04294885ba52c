// What every Graph route shares: the error shape and codes, request headers, $select/$top/$expand parsing,
// keyset paging with absolute nextLinks, and the JSON body helpers. azure-contracts.md §A.2, §A.5.
import { randomUUID } from 'node:crypto';
import { SimHttpError, type SimRequest, type SimResponse } from '../http.js';
import { lower, type Call, type GraphState } from './state.js';

export const JSON_TYPE =
  'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

/** A Graph error, optionally with `details` (TooManyAppPasswords and lifetime policy errors carry them). */
export class GraphError extends SimHttpError {
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

export const denied = () =>
  new GraphError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
export const badRequest = (message: string) => new GraphError(400, 'Request_BadRequest', message);
export const notFound = (ref: string) =>
  new GraphError(
    404,
    'Request_ResourceNotFound',
    `Resource '${ref}' does not exist or one of its queried reference-property objects are not present.`,
  );

export function errorBody(
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

/** An error as a Graph response: JSON body, request-id and the caller's client-request-id echoed. */
export function errorResponse(
  g: GraphState,
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
      g.ctx.clock.now(),
      err.code,
      err.message,
      requestId,
      clientRequestId,
      err instanceof GraphError ? err.details : undefined,
    ),
  };
}

export function defaultCode(status: number): string {
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

export function header(req: SimRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export const ok = (body: unknown, status = 200): SimResponse => ({ status, body });

/** `@odata.context` of a response. */
export const context = (g: GraphState, fragment: string) =>
  `${g.ctx.origins.graph}/v1.0/$metadata#${fragment}`;

export const selectFragment = (base: string, select: string[] | undefined, suffix = '') =>
  `${base}${select ? `(${select.join(',')})` : ''}${suffix}`;

export const sortById = <T extends { id: string }>(xs: T[]) =>
  xs.sort((a, b) => (lower(a.id) < lower(b.id) ? -1 : 1));

/** Parses $select against a type's properties (case-insensitive, canonical names back). */
export function parseSelect(req: SimRequest, known: string[] | null, typeName: string): string[] | undefined {
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

export function pick(full: Record<string, unknown>, select: string[] | undefined): Record<string, unknown> {
  if (!select) return full;
  const out: Record<string, unknown> = {};
  for (const s of select) out[s] = full[s];
  return out;
}

/** An advanced query: `ConsistencyLevel: eventual` and `$count=true` (aad-advanced-queries). */
export function isAdvancedQuery(req: SimRequest): boolean {
  const count = req.query.get('$count');
  return (
    count !== null && lower(count) === 'true' && lower(header(req, 'consistencylevel') ?? '') === 'eventual'
  );
}

/**
 * "When using the `in` operator, the request is limited to 15 expressions in the filter clause by default OR a
 * URL length of 2,048 characters when using advanced query capabilities" (Graph known issues, query parameters).
 * The status and text of the URL-length refusal are not documented: this 400 is the simulator's guess.
 */
export function checkAdvancedUrl(g: GraphState, req: SimRequest): void {
  const length = `${g.ctx.origins.graph}${req.url.pathname}${req.url.search}`.length;
  if (length > 2048) {
    throw new GraphError(
      400,
      'Request_UnsupportedQuery',
      `The request URL is ${length} characters long; advanced queries are limited to 2048.`,
    );
  }
}

/** Only `$expand=owners` is modelled. */
export function parseExpand(req: SimRequest, typeName: string): boolean {
  const raw = req.query.get('$expand');
  if (raw === null) return false;
  const name = raw.trim();
  if (lower(name) !== 'owners')
    throw badRequest(`Could not find a property named '${name}' on type '${typeName}'.`);
  return true;
}

/** Default page size 100, maximum 999. */
function parseTop(req: SimRequest): number {
  const raw = req.query.get('$top');
  if (raw === null) return 100;
  const n = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= 999))
    throw badRequest(`Invalid page size specified: '${raw}'. Must be between 1 and 999 inclusive.`);
  return n;
}

export function rejectUnmodelled(req: SimRequest, allowed: string[]): void {
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

/** One page of a sorted collection, keyset-paged by id so inserts and deletes never skip items. */
export function page<T>(
  g: GraphState,
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
  const body: Record<string, unknown> = { '@odata.context': context(g, contextFragment) };
  if (isAdvancedQuery(call.req)) body['@odata.count'] = items.length;
  if (start + top < items.length) {
    const last = slice[slice.length - 1]!;
    const skiptoken = Buffer.from(JSON.stringify({ after: idOf(last) })).toString('base64url');
    const params: string[] = [];
    for (const [k, v] of call.req.query) if (k !== '$skiptoken') params.push(`${k}=${encodeURIComponent(v)}`);
    params.push(`$skiptoken=${skiptoken}`);
    body['@odata.nextLink'] = `${g.ctx.origins.graph}${call.req.url.pathname}?${params.join('&')}`;
  }
  body.value = slice.map(render);
  return body;
}

/** addPassword and removePassword accept an empty body; anything present must be a JSON object. */
export function optionalJson(req: SimRequest): Record<string, unknown> {
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
