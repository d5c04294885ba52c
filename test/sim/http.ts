// The small HTTP(S) kernel every simulated service runs on: routing by named operation, a request log
// tests can read, fault injection and latency per operation. Each service supplies its own routes and
// its own error-body shape, so faults look exactly like that service's real errors.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';

export type ServiceName = 'entra' | 'mi' | 'graph' | 'keyvault' | 'acs';

export interface SimRequest {
  service: ServiceName;
  op: string;
  method: string;
  url: URL;
  /** Decoded path, without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: Buffer;
  /** Regex groups of the matched route. */
  params: string[];
  /** Set by the service once it knows which app registration the request is about (for logs and faults). */
  subject?: string;
}

export interface SimResponse {
  status: number;
  headers?: Record<string, string>;
  /** Objects are sent as JSON; strings and Buffers as they are; undefined sends no body. */
  body?: unknown;
  /** Called after the response has been decided (state changes are already done), for the request log. */
}

export type Handler = (req: SimRequest) => SimResponse | Promise<SimResponse>;

export interface Route {
  method: string;
  /** Matched against the decoded path. */
  pattern: RegExp;
  /** Operation name used by faults and logs, e.g. 'graph.addPassword'. */
  op: string;
  handler: Handler;
}

export interface LogEntry {
  seq: number;
  at: number;
  service: ServiceName;
  op: string;
  method: string;
  path: string;
  query: string;
  status: number;
  durationMs: number;
  subject?: string;
  fault?: string;
}

/** How an injected fault behaves.
 * - status: answer with `status` (and Retry-After when given) without doing the operation.
 * - reset: destroy the connection without doing the operation.
 * - hang: never answer, without doing the operation (the client times out).
 * - commitThenReset: do the operation, then destroy the connection (the client never learns the result).
 * - commitThenHang: do the operation, then never answer; `onCommitted` fires (tests kill the client there).
 * - commitThenStatus: do the operation, then answer with `status` anyway (a gateway timing out on a write that landed). */
export type FaultKind =
  'status' | 'reset' | 'hang' | 'commitThenReset' | 'commitThenHang' | 'commitThenStatus';

export interface FaultRule {
  /** Exact op name, or a pattern over op names ('graph.addPassword', /^keyvault\./). */
  op: string | RegExp;
  kind?: FaultKind;
  status?: number;
  retryAfterSeconds?: number;
  /** Error code for the service's error body (default derived from the status). */
  code?: string;
  message?: string;
  /** How many matching requests it affects; undefined = every one. */
  times?: number;
  /** How many matching requests it lets through before it starts (say, the third page of a listing: 2). */
  after?: number;
  /** Further narrowing, e.g. only requests about one app. It runs before the service handles the request, so
   *  `req.subject` is not set yet: match on `req.path` (Graph URLs name the app's object id). */
  when?: (req: SimRequest) => boolean;
  onCommitted?: (req: SimRequest) => void;
}

export interface ActiveFault extends FaultRule {
  id: number;
  hits: number;
  /** Matching requests let through so far (see `after`). */
  passed: number;
}

/** Fault and latency knobs shared by all services of one simulated cloud. */
export class Faults {
  private rules: ActiveFault[] = [];
  private nextId = 1;
  /** Extra latency per service, in ms (applied to every request before it is handled). */
  latencyMs: Partial<Record<ServiceName, number>> = {};
  /** Probability (0..1) that a request to the service is answered 429 with Retry-After. */
  random429Rate: Partial<Record<ServiceName, number>> = {};
  random429RetryAfterSeconds = 1;

  add(rule: FaultRule): ActiveFault {
    const active: ActiveFault = { kind: 'status', ...rule, id: this.nextId++, hits: 0, passed: 0 };
    this.rules.push(active);
    return active;
  }

  /** Shorthand: the op fails `times` times (or always) with `status`. */
  fail(op: FaultRule['op'], status: number, times?: number, extra: Partial<FaultRule> = {}): ActiveFault {
    return this.add({ op, status, times, ...extra });
  }

  remove(fault: ActiveFault): void {
    this.rules = this.rules.filter((r) => r !== fault);
  }

  clear(): void {
    this.rules = [];
    this.latencyMs = {};
    this.random429Rate = {};
  }

  /** Finds (and consumes one use of) the first rule that applies to this request. */
  take(req: SimRequest): ActiveFault | undefined {
    const rule = this.rules.find((r) => {
      const matches =
        (typeof r.op === 'string' ? r.op === req.op : r.op.test(req.op)) &&
        (r.times === undefined || r.hits < r.times) &&
        (!r.when || r.when(req));
      if (matches && r.passed < (r.after ?? 0)) {
        r.passed++;
        return false;
      }
      return matches;
    });
    if (rule) rule.hits++;
    return rule;
  }
}

export interface ErrorShape {
  /** Builds the service's own error body for a status, code and message. */
  body(status: number, code: string, message: string, req: SimRequest): unknown;
  headers?(status: number, code: string): Record<string, string>;
}

export interface SimServerOptions {
  service: ServiceName;
  /** TLS (the default) with the throwaway CA from SIM_TLS_DIR; the MI endpoint is plain http like the real one. */
  tls?: boolean;
  routes: Route[];
  errors: ErrorShape;
  faults: Faults;
  log: RequestLog;
}

/**
 * Key Vault's authentication challenge: a request answered 401 (with WWW-Authenticate). The SDK's first request of
 * each client goes without a token and is sent again with one, so whether a challenge lands on a given operation
 * depends on which request came first: counts of reads or writes leave it out (RequestLog.countServed).
 */
export const isAuthChallenge = (e: LogEntry): boolean => e.service === 'keyvault' && e.status === 401;

export class RequestLog {
  readonly entries: LogEntry[] = [];
  private seq = 0;
  /** Listeners fire after each request is answered (tests wait on these). */
  private listeners = new Set<(e: LogEntry) => void>();

  record(entry: Omit<LogEntry, 'seq'>): void {
    const e = { ...entry, seq: ++this.seq };
    this.entries.push(e);
    for (const l of this.listeners) l(e);
  }

  on(listener: (e: LogEntry) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  count(op: string | RegExp, filter?: (e: LogEntry) => boolean): number {
    return this.entries.filter(
      (e) => (typeof op === 'string' ? e.op === op : op.test(e.op)) && (!filter || filter(e)),
    ).length;
  }

  /** count, without Key Vault's authentication challenges: what the services served (reads, writes). */
  countServed(op: string | RegExp, filter?: (e: LogEntry) => boolean): number {
    return this.count(op, (e) => !isAuthChallenge(e) && (!filter || filter(e)));
  }

  clear(): void {
    this.entries.length = 0;
  }
}

export class SimHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const STATUS_CODES: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  429: 'TooManyRequests',
  500: 'InternalServerError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

export function tlsOptions(): { key: Buffer; cert: Buffer } {
  const dir = process.env.SIM_TLS_DIR;
  if (!dir) {
    throw new Error(
      'SIM_TLS_DIR is not set: start the simulated cloud through `node scripts/with-sim-ca.mjs <command>` ' +
        '(npm test, npm run demo and npm run bench do this).',
    );
  }
  return { key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface RunningServer {
  origin: string;
  port: number;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts one simulated service on 127.0.0.1 at a free port. */
export async function startSimServer(opts: SimServerOptions): Promise<RunningServer> {
  const useTls = opts.tls ?? true;
  const sockets = new Set<Socket>();
  const listener = (raw: IncomingMessage, res: ServerResponse) => {
    void handle(opts, raw, res, origin);
  };
  const server = useTls ? createHttpsServer(tlsOptions(), listener) : createHttpServer(listener);
  server.keepAliveTimeout = 5_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const origin = `${useTls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return {
    origin,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function readBody(raw: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of raw) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function send(res: ServerResponse, r: SimResponse): void {
  const headers: Record<string, string> = { ...(r.headers ?? {}) };
  let payload: Buffer | undefined;
  if (r.body !== undefined) {
    if (Buffer.isBuffer(r.body)) payload = r.body;
    else if (typeof r.body === 'string') payload = Buffer.from(r.body);
    else {
      payload = Buffer.from(JSON.stringify(r.body));
      headers['content-type'] ??= 'application/json; charset=utf-8';
    }
  }
  headers['content-length'] = String(payload?.length ?? 0);
  res.writeHead(r.status, headers);
  res.end(payload);
}

async function handle(opts: SimServerOptions, raw: IncomingMessage, res: ServerResponse, origin: string) {
  const started = Date.now();
  const url = new URL(raw.url ?? '/', origin);
  const body = await readBody(raw);
  const method = (raw.method ?? 'GET').toUpperCase();
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    path = url.pathname;
  }
  const route = opts.routes.find((r) => r.method === method && r.pattern.test(path));
  const req: SimRequest = {
    service: opts.service,
    op: route?.op ?? `${opts.service}.unknown`,
    method,
    url,
    path,
    query: url.searchParams,
    headers: raw.headers,
    body,
    params: route ? (path.match(route.pattern) ?? []).slice(1) : [],
  };
  const finish = (status: number, fault?: string) =>
    opts.log.record({
      at: started,
      service: opts.service,
      op: req.op,
      method,
      path,
      query: url.search,
      status,
      durationMs: Date.now() - started,
      subject: req.subject,
      fault,
    });
  const errorResponse = (
    status: number,
    code: string,
    message: string,
    extra: Record<string, string> = {},
  ) => ({
    status,
    headers: { ...(opts.errors.headers?.(status, code) ?? {}), ...extra },
    body: opts.errors.body(status, code, message, req),
  });

  const latency = opts.faults.latencyMs[opts.service];
  if (latency) await sleep(latency);

  if (!route) {
    const r = errorResponse(
      404,
      'NotFound',
      `The simulated ${opts.service} has no route for ${method} ${path}.`,
    );
    send(res, r);
    return finish(r.status);
  }

  const fault = opts.faults.take(req);
  const rate = opts.faults.random429Rate[opts.service] ?? 0;
  if (!fault && rate > 0 && Math.random() < rate) {
    const ra = String(opts.faults.random429RetryAfterSeconds);
    const r = errorResponse(429, 'TooManyRequests', 'Too many requests (simulated random throttling).', {
      'retry-after': ra,
    });
    send(res, r);
    return finish(429, 'random429');
  }
  const commits =
    fault?.kind === 'commitThenReset' ||
    fault?.kind === 'commitThenHang' ||
    fault?.kind === 'commitThenStatus';
  if (fault && !commits) {
    if (fault.kind === 'reset') {
      raw.socket.destroy();
      return finish(0, 'reset');
    }
    if (fault.kind === 'hang') return finish(0, 'hang'); // never answered; the socket stays open
    const status = fault.status ?? 500;
    const extra: Record<string, string> = {};
    if (fault.retryAfterSeconds !== undefined) extra['retry-after'] = String(fault.retryAfterSeconds);
    const r = errorResponse(
      status,
      fault.code ?? STATUS_CODES[status] ?? 'Error',
      fault.message ?? `Simulated fault: ${status} on ${req.op}.`,
      extra,
    );
    send(res, r);
    return finish(status, `status ${status}`);
  }

  let response: SimResponse;
  try {
    response = await route.handler(req);
  } catch (err) {
    if (err instanceof SimHttpError) {
      response = errorResponse(err.status, err.code, err.message, err.headers);
    } else {
      response = errorResponse(500, 'InternalServerError', `Simulator bug: ${(err as Error).message}`);
      console.error(`[sim ${opts.service}] ${req.op} crashed:`, err);
    }
  }
  if (fault?.kind === 'commitThenReset') {
    raw.socket.destroy();
    return finish(0, 'commitThenReset');
  }
  if (fault?.kind === 'commitThenStatus') {
    const status = fault.status ?? 504;
    const extra: Record<string, string> = {};
    if (fault.retryAfterSeconds !== undefined) extra['retry-after'] = String(fault.retryAfterSeconds);
    const r = errorResponse(
      status,
      fault.code ?? STATUS_CODES[status] ?? 'Error',
      fault.message ?? `Simulated fault: ${status} after ${req.op} was carried out.`,
      extra,
    );
    send(res, r);
    return finish(status, `commitThenStatus ${status}`);
  }
  if (fault?.kind === 'commitThenHang') {
    finish(0, 'commitThenHang');
    fault.onCommitted?.(req);
    return;
  }
  send(res, response);
  finish(response.status);
}

/** Parses a JSON request body or answers 400 in the service's own words. */
export function jsonBody<T>(req: SimRequest, code = 'BadRequest'): T {
  if (req.body.length === 0) throw new SimHttpError(400, code, 'The request body is empty.');
  try {
    return JSON.parse(req.body.toString('utf8')) as T;
  } catch {
    throw new SimHttpError(400, code, 'The request body is not valid JSON.');
  }
}
