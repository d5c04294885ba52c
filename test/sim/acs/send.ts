// POST /emails:send: what ACS Email checks and records when a message is sent (size, sender domain and user
// name, content, recipients, the Operation-Id, the rate limits) and the 202 that starts the operation.
import { randomUUID } from 'node:crypto';
import type { SimContext } from '../cloud.js';
import { jsonBody, SimHttpError, type SimRequest, type SimResponse } from '../http.js';
import { authenticate, header, requireApiVersion } from './auth.js';
import { MAX_REQUEST_BYTES } from './limits.js';
import type { MailMessage, MailState } from './state.js';

// Deliberately loose (as the service is): one @, no spaces or angle brackets, a dotted domain.
const ADDRESS =
  /^[^\s@<>()[\]",;:]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface EmailAddressBody {
  address?: unknown;
  displayName?: unknown;
}

interface EmailMessageBody {
  senderAddress?: unknown;
  content?: { subject?: unknown; plainText?: unknown; html?: unknown };
  recipients?: { to?: EmailAddressBody[]; cc?: EmailAddressBody[]; bcc?: EmailAddressBody[] };
}

export function sendHandler(ctx: SimContext) {
  const mail = ctx.mail;
  return async (req: SimRequest): Promise<SimResponse> => {
    requireApiVersion(req);
    const caller = await authenticate(ctx, req);
    if (req.body.length > MAX_REQUEST_BYTES) {
      throw new SimHttpError(400, 'BadRequest', 'The request exceeds the maximum allowed size of 10 MB.');
    }
    const parsed = validate(ctx, mail, jsonBody<EmailMessageBody>(req));

    const headerId = header(req, 'operation-id');
    if (headerId !== undefined && !GUID.test(headerId)) {
      throw new SimHttpError(400, 'BadRequest', 'The Operation-Id header must be a GUID.');
    }
    const operationId = (headerId ?? randomUUID()).toLowerCase();
    if (mail.operation(operationId)) {
      if (mail.operationIdReuse === 'existing') return accepted(ctx, req, operationId);
      if (mail.operationIdReuse === 'conflict') {
        throw new SimHttpError(409, 'Conflict', `An operation with the id '${operationId}' already exists.`);
      }
    }

    const retryAfter = mail.checkRate();
    if (retryAfter > 0) {
      throw new SimHttpError(
        429,
        'TooManyRequests',
        'The email sending limit of the domain has been reached. Please try again later.',
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
  if (count > mail.maxRecipients)
    throw bad(`The number of recipients (${count}) exceeds the limit of ${mail.maxRecipients}.`);
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
