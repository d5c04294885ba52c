// What the simulated ACS Email resource holds and how it is tuned: accepted messages, send operations, the rate
// windows, and the behaviours the documentation leaves open (how long a send runs, what a reused Operation-Id does).
import type { SimClock } from '../clock.js';
import {
  ACS_DOCUMENTED_LIMITS,
  MAX_RECIPIENTS,
  RateWindow,
  type AcsDomainKind,
  type AcsRateLimits,
} from './limits.js';
import type { MailOperation } from './operations.js';

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

/**
 * A send whose Operation-Id was already used. The REST reference only says the id identifies the long-running
 * operation; what the service does with a reused one is not documented, so each answer can be tested:
 * - 'existing': 202 with the existing operation, nothing sent (the default);
 * - 'conflict': 409 Conflict, nothing sent;
 * - 'new': sent again as a new message under the same id (the operation now tracks the new send).
 */
export type OperationIdReuse = 'existing' | 'conflict' | 'new';

export interface MailStateOptions {
  /** Documented rate limits of a domain kind (send and status, per minute and hour); default none. */
  domainKind?: AcsDomainKind;
  /** Accepted sends per rolling minute before 429 (overrides domainKind's). */
  messagesPerMinute?: number;
  /** Accepted sends per rolling hour before 429 (overrides domainKind's). */
  messagesPerHour?: number;
  /** How long a send stays Running on the cloud's clock (default 0: Running on the first poll only). */
  runningForMs?: number;
  operationIdReuse?: OperationIdReuse;
  /** Recipients per message, To + Cc + Bcc (default the documented 50). */
  maxRecipients?: number;
  /** Sender user names configured on the linked domain (an Azure-managed domain has only DoNotReply). */
  senderUserNames?: string[];
  /** The cloud's clock, for the rate windows, send times and running sends. */
  clock?: SimClock;
  /** Clock for the rate windows as a function (tests replace it; default the clock, else Date.now). */
  now?: () => number;
}

/** What the simulated ACS resource has accepted, for tests to read and steer. */
export class MailState {
  readonly messages: MailMessage[] = [];
  /** Recipients whose mail is dropped: the operation for a message to any of them ends Failed. */
  readonly dropRecipients = new Set<string>();
  /** 429s answered, by the limit that caused them (`status`: Get Email Status). */
  readonly throttled = { perMinute: 0, perHour: 0, status: 0 };
  messagesPerMinute?: number;
  messagesPerHour?: number;
  statusPerMinute?: number;
  statusPerHour?: number;
  runningForMs: number;
  operationIdReuse: OperationIdReuse;
  maxRecipients: number;
  senderUserNames: Set<string>;
  now: () => number;
  /** @internal */
  readonly sendWindow = new RateWindow();
  /** @internal */
  readonly statusWindow = new RateWindow();
  private readonly operations = new Map<string, MailOperation>();

  constructor(readonly opts: MailStateOptions = {}) {
    if (opts.domainKind) this.useDomainLimits(opts.domainKind);
    if (opts.messagesPerMinute !== undefined) this.messagesPerMinute = opts.messagesPerMinute;
    if (opts.messagesPerHour !== undefined) this.messagesPerHour = opts.messagesPerHour;
    this.runningForMs = opts.runningForMs ?? 0;
    this.operationIdReuse = opts.operationIdReuse ?? 'existing';
    this.maxRecipients = opts.maxRecipients ?? MAX_RECIPIENTS;
    this.senderUserNames = new Set((opts.senderUserNames ?? ['DoNotReply']).map((u) => u.toLowerCase()));
    const clock = opts.clock;
    this.now = opts.now ?? (clock ? () => clock.nowMs() : Date.now);
  }

  /** The documented limits of an Azure-managed or a custom domain; null lifts every rate limit. */
  useDomainLimits(kind: AcsDomainKind | null): void {
    const l: AcsRateLimits = kind ? ACS_DOCUMENTED_LIMITS[kind] : {};
    this.messagesPerMinute = l.sendPerMinute;
    this.messagesPerHour = l.sendPerHour;
    this.statusPerMinute = l.statusPerMinute;
    this.statusPerHour = l.statusPerHour;
  }

  /** Messages that reached this address (to, cc or bcc; case-insensitive), dropped ones excluded. */
  to(address: string): MailMessage[] {
    const a = address.toLowerCase();
    return this.messages.filter(
      (m) => !m.dropped && [...m.to, ...m.cc, ...m.bcc].some((r) => r.toLowerCase() === a),
    );
  }

  /** Sends refused with 429. */
  get throttledTotal(): number {
    return this.throttled.perMinute + this.throttled.perHour;
  }

  clear(): void {
    this.messages.length = 0;
    this.operations.clear();
    this.sendWindow.clear();
    this.statusWindow.clear();
    this.throttled.perMinute = 0;
    this.throttled.perHour = 0;
    this.throttled.status = 0;
  }

  /** Seconds until a send may go (0: now), counting the 429 otherwise. */
  checkRate(): number {
    const { wait, hit } = this.sendWindow.check(this.now(), this.messagesPerMinute, this.messagesPerHour);
    if (hit === 'hour') this.throttled.perHour++;
    if (hit === 'minute') this.throttled.perMinute++;
    return wait;
  }

  /** @internal used by the service */
  accept(message: MailMessage): MailOperation {
    const now = this.now();
    this.sendWindow.record(now);
    this.messages.push(message);
    const op: MailOperation = {
      id: message.operationId,
      message,
      acceptedAt: now,
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
