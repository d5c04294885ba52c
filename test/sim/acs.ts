// Azure Communication Services Email (data plane, api-version 2025-09-01) as the real EmailClient sees it:
// HMAC or Entra auth, the send validation the service does, the Operation-Id idempotency key, the
// Azure-managed domain's rate limits, and the long-running operation that ends Succeeded or Failed.
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { SimContext, SimService } from './cloud.js';
import { jsonBody, SimHttpError, type SimRequest, type SimResponse } from './http.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** The service rejects an x-ms-date further than this from its own clock. */
const MAX_CLOCK_SKEW_MS = 15 * MINUTE;
const MAX_REQUEST_BYTES = 10 * 1024 * 1024;
const MAX_RECIPIENTS = 50;
const ACS_AUDIENCE = 'https://communication.azure.com';
// Deliberately loose (as the service is): one @, no spaces or angle brackets, a dotted domain.
const ADDRESS =
  /^[^\s@<>()[\]",;:]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface MailMessage {
  operationId: string;
  /** ISO time the send was accepted. */
  at: string;
  senderAddress: string;
  to: string[];
  cc: string[];
  bcc: string[];
  subject: string;
  plainText?: string;
  html?: string;
  auth: 'hmac' | 'entra';
  /** Object id of the Entra caller (entra auth only). */
  callerOid?: string;
  /** True when a recipient was in `dropRecipients`: the operation ended Failed / EmailDropped. */
  dropped: boolean;
}

export type OperationStatus = 'Running' | 'Succeeded' | 'Failed';

export interface MailOperation {
  id: string;
  message: MailMessage;
  polls: number;
  final: OperationStatus;
}

export interface MailStateOptions {
  /** Accepted sends per rolling minute before 429 (Azure-managed domain: 5). Default unlimited. */
  messagesPerMinute?: number;
  /** Accepted sends per rolling hour before 429 (Azure-managed domain: 10). Default unlimited. */
  messagesPerHour?: number;
  /** Sender user names configured on the linked domain (an Azure-managed domain has only DoNotReply). */
  senderUserNames?: string[];
  /** Clock for the rate windows (tests move it instead of waiting a minute). */
  now?: () => number;
}

/** What the simulated ACS resource has accepted, for tests to read and steer. */
export class MailState {
  readonly messages: MailMessage[] = [];
  /** Recipients whose mail is dropped: the operation for a message to any of them ends Failed. */
  readonly dropRecipients = new Set<string>();
  /** 429s answered, by the limit that caused them. */
  readonly throttled = { perMinute: 0, perHour: 0 };
  messagesPerMinute?: number;
  messagesPerHour?: number;
  senderUserNames: Set<string>;
  now: () => number;
  private readonly operations = new Map<string, MailOperation>();
  /** Times (ms) of accepted sends, oldest first, for the rate windows. */
  private accepted: number[] = [];

  constructor(readonly opts: MailStateOptions = {}) {
    this.messagesPerMinute = opts.messagesPerMinute;
    this.messagesPerHour = opts.messagesPerHour;
    this.senderUserNames = new Set((opts.senderUserNames ?? ['DoNotReply']).map((u) => u.toLowerCase()));
    this.now = opts.now ?? Date.now;
  }

  /** Messages that reached this address (to, cc or bcc; case-insensitive), dropped ones excluded. */
  to(address: string): MailMessage[] {
    const a = address.toLowerCase();
    return this.messages.filter(
      (m) => !m.dropped && [...m.to, ...m.cc, ...m.bcc].some((r) => r.toLowerCase() === a),
    );
  }

  get throttledTotal(): number {
    return this.throttled.perMinute + this.throttled.perHour;
  }

  clear(): void {
    this.messages.length = 0;
    this.operations.clear();
    this.accepted = [];
    this.throttled.perMinute = 0;
    this.throttled.perHour = 0;
  }

  /** Seconds until both windows have room, or 0 when a send may go now (and counts the 429 otherwise). */
  checkRate(): number {
    const now = this.now();
    this.accepted = this.accepted.filter((t) => t > now - HOUR);
    const wait = (limit: number | undefined, windowMs: number): number => {
      if (limit === undefined) return 0;
      const inWindow = this.accepted.filter((t) => t > now - windowMs);
      if (inWindow.length < limit) return 0;
      // The window has room once the oldest send that keeps it full falls out of it.
      const freeAt = inWindow[inWindow.length - limit]! + windowMs;
      return Math.max(1, Math.ceil((freeAt - now) / 1000));
    };
    const minute = wait(this.messagesPerMinute, MINUTE);
    const hour = wait(this.messagesPerHour, HOUR);
    if (hour > 0) this.throttled.perHour++;
    else if (minute > 0) this.throttled.perMinute++;
    return Math.max(minute, hour);
  }

  /** @internal used by the service */
  accept(message: MailMessage): MailOperation {
    this.accepted.push(this.now());
    this.messages.push(message);
    const op: MailOperation = {
      id: message.operationId,
      message,
      polls: 0,
      final: message.dropped ? 'Failed' : 'Succeeded',
    };
    this.operations.set(op.id, op);
    return op;
  }

  /** @internal */
  operation(id: string): MailOperation | undefined {
    return this.operations.get(id.toLowerCase());
  }
}

interface EmailAddressBody {
  address?: unknown;
  displayName?: unknown;
}

interface EmailMessageBody {
  senderAddress?: unknown;
  content?: { subject?: unknown; plainText?: unknown; html?: unknown };
  recipients?: { to?: EmailAddressBody[]; cc?: EmailAddressBody[]; bcc?: EmailAddressBody[] };
}

export function createAcs(ctx: SimContext): SimService {
  const mail = ctx.mail;

  const send = async (req: SimRequest): Promise<SimResponse> => {
    requireApiVersion(req);
    const caller = await authenticate(ctx, req);
    if (req.body.length > MAX_REQUEST_BYTES) {
      throw new SimHttpError(400, 'BadRequest', 'The request exceeds the maximum allowed size of 10 MB.');
    }
    const body = jsonBody<EmailMessageBody>(req);
    const parsed = validate(ctx, mail, body);

    const headerId = header(req, 'operation-id');
    if (headerId !== undefined && !GUID.test(headerId)) {
      throw new SimHttpError(400, 'BadRequest', 'The Operation-Id header must be a GUID.');
    }
    const operationId = (headerId ?? randomUUID()).toLowerCase();
    // The same Operation-Id again is the same send: answer with the existing operation, send nothing.
    const existing = mail.operation(operationId);
    if (existing) return accepted(ctx, req, existing.id);

    const retryAfter = mail.checkRate();
    if (retryAfter > 0) {
      throw new SimHttpError(
        429,
        'TooManyRequests',
        'The email sending limit of the Azure-managed domain has been reached. Please try again later.',
        { 'retry-after': String(retryAfter) },
      );
    }
    const recipients = [...parsed.to, ...parsed.cc, ...parsed.bcc].map((a) => a.toLowerCase());
    const dropped = recipients.some((r) => [...mail.dropRecipients].some((d) => d.toLowerCase() === r));
    mail.accept({
      operationId,
      at: new Date(mail.now()).toISOString(),
      ...parsed,
      auth: caller.auth,
      ...(caller.oid ? { callerOid: caller.oid } : {}),
      dropped,
    });
    return accepted(ctx, req, operationId);
  };

  const getOperation = async (req: SimRequest): Promise<SimResponse> => {
    requireApiVersion(req);
    await authenticate(ctx, req);
    const op = mail.operation(req.params[0] ?? '');
    if (!op) throw new SimHttpError(404, 'NotFound', `The operation '${req.params[0]}' was not found.`);
    // Running on the first poll, terminal afterwards: the SDK's poller sees a real transition.
    op.polls++;
    const status: OperationStatus = op.polls > 1 ? op.final : 'Running';
    if (status === 'Running') {
      return { status: 200, headers: { 'retry-after': '0' }, body: { id: op.id, status } };
    }
    if (status === 'Failed') {
      return {
        status: 200,
        body: {
          id: op.id,
          status,
          error: { code: 'EmailDropped', message: 'Email was dropped after several attempts to deliver.' },
        },
      };
    }
    return { status: 200, body: { id: op.id, status } };
  };

  return {
    routes: [
      { method: 'POST', pattern: /^\/emails:send$/, op: 'acs.send', handler: send },
      {
        method: 'GET',
        pattern: /^\/emails\/operations\/([^/]+)$/,
        op: 'acs.getOperation',
        handler: getOperation,
      },
    ],
    errors: {
      body: (_status, code, message) => ({ error: { code, message } }),
      headers: (_status, code) => ({ 'x-ms-error-code': code }),
    },
  };
}

function accepted(ctx: SimContext, req: SimRequest, id: string): SimResponse {
  const apiVersion = req.query.get('api-version') ?? '';
  return {
    status: 202,
    headers: {
      'operation-location': `${ctx.origins.acs}/emails/operations/${id}?api-version=${encodeURIComponent(apiVersion)}`,
      'retry-after': '0',
    },
    body: { id, status: 'Running' },
  };
}

function header(req: SimRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function requireApiVersion(req: SimRequest): void {
  if (!req.query.get('api-version')) {
    throw new SimHttpError(
      400,
      'MissingApiVersionParameter',
      'The api-version query parameter (?api-version=) is required for all requests.',
    );
  }
}

async function authenticate(
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

function validate(
  ctx: SimContext,
  mail: MailState,
  body: EmailMessageBody,
): Omit<MailMessage, 'operationId' | 'at' | 'auth' | 'callerOid' | 'dropped'> {
  const bad = (message: string) => new SimHttpError(400, 'BadRequest', message);
  if (typeof body !== 'object' || body === null)
    throw bad('The request body must be an EmailMessage object.');
  const sender = body.senderAddress;
  if (typeof sender !== 'string' || !ADDRESS.test(sender))
    throw bad('senderAddress is required and must be a valid email address.');
  const [user, domain] = sender.split('@') as [string, string];
  if (domain.toLowerCase() !== ctx.emailDomain.toLowerCase()) {
    // Observed on the real service as 404 DomainNotLinked (third-party reports; not in the REST spec).
    throw new SimHttpError(404, 'DomainNotLinked', 'The specified sender domain has not been linked.');
  }
  if (!mail.senderUserNames.has(user.toLowerCase())) {
    throw new SimHttpError(400, 'InvalidSenderUserName', 'Invalid email sender username.');
  }
  const content = body.content;
  if (typeof content !== 'object' || content === null) throw bad('content is required.');
  if (typeof content.subject !== 'string' || content.subject.trim() === '')
    throw bad('content.subject is required.');
  for (const k of ['plainText', 'html'] as const) {
    if (content[k] !== undefined && typeof content[k] !== 'string')
      throw bad(`content.${k} must be a string.`);
  }
  const recipients = body.recipients;
  if (typeof recipients !== 'object' || recipients === null) throw bad('recipients is required.');
  const list = (k: 'to' | 'cc' | 'bcc'): string[] => {
    const v = recipients[k];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw bad(`recipients.${k} must be an array.`);
    return v.map((r, i) => {
      if (typeof r?.address !== 'string' || !ADDRESS.test(r.address)) {
        throw bad(`recipients.${k}[${i}].address is not a valid email address.`);
      }
      return r.address;
    });
  };
  const to = list('to');
  const cc = list('cc');
  const bcc = list('bcc');
  const count = to.length + cc.length + bcc.length;
  if (count === 0) throw bad('At least one recipient is required in to, cc or bcc.');
  if (count > MAX_RECIPIENTS)
    throw bad(`The number of recipients (${count}) exceeds the limit of ${MAX_RECIPIENTS}.`);
  return {
    senderAddress: sender,
    to,
    cc,
    bcc,
    subject: content.subject,
    ...(typeof content.plainText === 'string' ? { plainText: content.plainText } : {}),
    ...(typeof content.html === 'string' ? { html: content.html } : {}),
  };
}
