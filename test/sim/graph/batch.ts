// POST /$batch: at most 20 requests, ids unique (case-insensitive), dependsOn only on earlier requests, a body
// needs a Content-Type. Each sub-request runs through the same routes, faults and throttling as a direct call and
// is logged on its own; a request whose dependency failed answers 424. azure-contracts.md §A.6.
import { randomUUID } from 'node:crypto';
import type { Route, SimRequest, SimResponse } from '../http.js';
import { defaultCode, errorBody, errorResponse, GraphError, header, ok } from './odata.js';
import { lower, type GraphHandler, type GraphState } from './state.js';

const BATCH_LIMIT = 20;

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
const clientRequestIdOf = (req: SimRequest) => header(req, 'client-request-id') ?? randomUUID();

/** The whole batch is refused (400) before anything runs when its envelope is wrong. */
function parseBatch(body: Buffer): BatchItem[] {
  let parsed: { requests?: unknown };
  try {
    parsed = JSON.parse(body.toString('utf8')) as { requests?: unknown };
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
  return items;
}

/** The $batch handler, dispatching to `routes` (the Graph routes, filled in by the caller). */
export function batchHandler(routes: Route[]): GraphHandler {
  return async (g, call) => {
    const items = parseBatch(call.req.body);
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
                g.ctx.clock.now(),
                'FailedDependency',
                'The request depends on a request that failed.',
                randomUUID(),
                clientRequestIdOf(call.req),
              ),
            };
          }
          return runSubRequest(g, routes, call.req, item);
        })(),
      );
    }
    return ok({ responses: await Promise.all(results.values()) });
  };
}

/** A sub-request as the kernel would build it from a direct call. */
function subRequest(g: GraphState, routes: Route[], outer: SimRequest, item: BatchItem, url: string) {
  if (!url.startsWith('/')) url = `/${url}`;
  // The JS SDK strips only scheme and host, so its URLs keep the /v1.0 prefix.
  if (!/^\/v1\.0(\/|\?|$)/i.test(url)) url = `/v1.0${url}`;
  const full = new URL(`${g.ctx.origins.graph}${url}`);
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
  return { sub, route };
}

async function runSubRequest(
  g: GraphState,
  routes: Route[],
  outer: SimRequest,
  item: BatchItem,
): Promise<SubResponse> {
  const { ctx } = g;
  const started = Date.now(); // the request log is in real time, like the kernel's
  const toSub = (r: SimResponse): SubResponse => ({
    id: item.id,
    status: r.status,
    headers: batchHeaders(r.headers ?? {}),
    ...(r.body !== undefined ? { body: r.body } : {}),
  });
  const url = item.url.trim();
  if (/^[a-z]+:\/\//i.test(url)) {
    const err = new GraphError(400, 'BadRequest', 'Invalid request URL: batch requests use relative URLs.');
    return toSub(errorResponse(g, err, outer));
  }
  const { sub, route } = subRequest(g, routes, outer, item, url);
  let response: SimResponse;
  let faultName: string | undefined;
  const fault = ctx.faults.take(sub);
  const rate = ctx.faults.random429Rate.graph ?? 0;
  if (route?.op === 'graph.batch') {
    response = errorResponse(
      g,
      new GraphError(400, 'BadRequest', 'A batch request cannot contain another batch.'),
      sub,
    );
  } else if (fault && fault.kind === 'status') {
    const status = fault.status ?? 500;
    const extra: Record<string, string> =
      fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {};
    const message = fault.message ?? `Simulated fault: ${status} on ${sub.op}.`;
    response = errorResponse(
      g,
      new GraphError(status, fault.code ?? defaultCode(status), message, undefined, extra),
      sub,
    );
    faultName = `status ${status}`;
  } else if (!fault && rate > 0 && Math.random() < rate) {
    const retryAfter = { 'retry-after': String(ctx.faults.random429RetryAfterSeconds) };
    const err = new GraphError(
      429,
      'TooManyRequests',
      'Too many requests (simulated random throttling).',
      undefined,
      retryAfter,
    );
    response = errorResponse(g, err, sub);
    faultName = 'random429';
  } else if (fault && (fault.kind === 'reset' || fault.kind === 'hang')) {
    // A broken connection behind the batch endpoint surfaces as a gateway timeout of that sub-request.
    response = errorResponse(g, new GraphError(504, 'GatewayTimeout', 'The request timed out.'), sub);
    faultName = fault.kind;
  } else {
    response = await route!.handler(sub);
    if (fault) {
      // commitThen*: the change happened, but the caller never learns the outcome.
      fault.onCommitted?.(sub);
      response = errorResponse(g, new GraphError(504, 'GatewayTimeout', 'The request timed out.'), sub);
      faultName = fault.kind;
    }
  }
  ctx.log.record({
    at: started,
    service: 'graph',
    op: sub.op,
    method: sub.method,
    path: sub.path,
    query: sub.url.search,
    status: response.status,
    durationMs: Date.now() - started,
    subject: sub.subject,
    fault: faultName,
  });
  return toSub(response);
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
