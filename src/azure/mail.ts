// How we talk to ACS Email: one send per message, idempotent per (run, recipients) through the Operation-Id, with
// throttling waits bounded per run so a rate-limited domain cannot stall a run. A send is never repeated blind:
// before every POST the operation is looked up by its id, so a resend after a lost answer follows the operation
// ACS already has instead of relying on what ACS answers to a reused Operation-Id.
import { createHash } from 'node:crypto';
import { EmailClient, type EmailClientOptions } from '@azure/communication-email';
import type { TokenCredential } from '@azure/identity';
import { cleanText } from '../text.js';
import { systemClock, type Clock } from '../util/clock.js';
import { parseRetryAfter, RETRY_AFTER_HEADERS, retryAfterOf, withRetry } from '../util/retry.js';

export interface MailSettings {
  endpoint?: string;
  connectionString?: string;
  sender: string;
}

export interface SendResult {
  to: string;
  status: 'sent' | 'failed';
  operationId: string;
  error?: string;
}

export interface MailerOptions {
  /** Total time this Mailer may spend waiting on 429/503 Retry-After, the SDK's own retries included (default 120 s). */
  maxWaitMs?: number;
  /** Poll interval when ACS sends no Retry-After (default 500 ms). */
  pollIntervalMs?: number;
  /** How long one send may wait for ACS to finish the operation (default 120 s). */
  pollTimeoutMs?: number;
  /** How long one HTTP request to ACS may take before it is abandoned (default 30 s): a hung poll must not stall a run. */
  requestTimeoutMs?: number;
  log?: (line: string) => void;
  clock?: Clock;
}

type PipelinePolicy = NonNullable<EmailClientOptions['additionalPolicies']>[number]['policy'];
type PipelineResponse = Awaited<ReturnType<PipelinePolicy['sendRequest']>>;
type PipelineRequest = Parameters<PipelinePolicy['sendRequest']>[0];

interface Operation {
  id: string;
  status: string;
  error?: { code?: string; message?: string };
  /** Our one-line account of a failed operation, when we already have one. */
  description?: string;
}

/** EmailClient 1.1.0 has no public way to read an operation by id; its generated client does (GET /emails/operations/{id}). */
interface OperationReader {
  getSendResult(
    id: string,
    options?: { onResponse?: (raw: { headers: { get(name: string): string | undefined } }) => void },
  ): Promise<Operation>;
}

// ACS refuses requests over 10 MB; stop short of it instead of sending a doomed request.
const MAX_MESSAGE_BYTES = 9.5 * 1024 * 1024;
// Marks a throttled response whose wait this run can no longer afford (set by our own policy, never by ACS).
const BUDGET_HEADER = 'x-rotator-wait-budget';
// Fixed namespace for name-based (v5) operation ids.
const OPERATION_NAMESPACE = Buffer.from('5b3f0a2e8c1d4e7fa6b9d2c4e1f08a37', 'hex');
/** Sends whose outcome stayed unknown (lost answer, server error) are looked up and tried this often. */
const AMBIGUOUS_TRIES = 3;
const TERMINAL = new Set(['Succeeded', 'Failed', 'Canceled']);

/** A UUID (v5 layout) derived from (runId, recipient): a retried send of the same message reuses it, so ACS
 *  treats it as the same operation instead of mailing twice. Addresses compare case-insensitively. */
export function mailOperationId(runId: string, recipient: string): string {
  const h = createHash('sha1')
    .update(OPERATION_NAMESPACE)
    .update(`${runId}\n${recipient.trim().toLowerCase()}`)
    .digest()
    .subarray(0, 16);
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

interface ErrorLike {
  name?: string;
  message?: string;
  code?: string;
  statusCode?: number;
  /** The request that failed: only its method is read (never its body). */
  request?: { method?: string };
  response?: { headers?: { get(name: string): string | undefined } };
}

const line = (s: string) => cleanText(s, 300);

/** One line naming the cause. Built from the error's status, code and first message line only; the request
 *  (and so the message body) is never looked at. */
export function describeMailError(e: unknown): string {
  const err = (typeof e === 'object' && e !== null ? e : { message: String(e) }) as ErrorLike;
  const first = (err.message ?? '').split('\n')[0] ?? '';
  if (err.name === 'AbortError') return 'timed out waiting for ACS to finish the send operation';
  const lro = /^The long-running operation has failed\.?\s*(.*)$/.exec(first);
  if (lro) return line(`ACS did not deliver: ${lro[1] || 'operation failed'}`);
  if (err.statusCode !== undefined) {
    const code = err.code && err.code !== first ? `${err.code}: ` : '';
    return line(`ACS answered ${err.statusCode}: ${code}${first}`);
  }
  if (err.name === 'CredentialUnavailableError' || err.name === 'AuthenticationError') {
    return line(`no token for ACS (${err.name}): ${first}`);
  }
  return line(`${err.code ? `${err.code}: ` : ''}${first || err.name || 'unknown error'}`);
}

/** A POST whose earlier attempt failed without a clear "not done": the SDK must not send it again blind. */
class AmbiguousSendError extends Error {
  constructor() {
    super('the send may or may not have been accepted');
    this.name = 'AmbiguousSendError';
  }
}

const statusOf = (e: unknown) => (e as ErrorLike | undefined)?.statusCode;
const isThrottled = (e: unknown) => statusOf(e) === 429 || statusOf(e) === 503;
/** No answer, or a server error: ACS may or may not have accepted the send. */
const isAmbiguous = (e: unknown) =>
  e instanceof AmbiguousSendError || statusOf(e) === undefined || statusOf(e)! >= 500;

export class Mailer {
  private readonly client: EmailClient;
  private readonly sender: string;
  private readonly log: (line: string) => void;
  private readonly pollIntervalMs: number;
  private readonly pollTimeoutMs: number;
  private readonly clock: Clock;
  /** Throttling wait still allowed for this run (shared by all sends of this Mailer). */
  private budgetMs: number;

  constructor(settings: MailSettings, credential: TokenCredential, opts: MailerOptions = {}) {
    this.sender = settings.sender;
    this.log = opts.log ?? (() => {});
    this.budgetMs = opts.maxWaitMs ?? 120_000;
    this.pollIntervalMs = opts.pollIntervalMs ?? 500;
    this.pollTimeoutMs = opts.pollTimeoutMs ?? 120_000;
    this.clock = opts.clock ?? systemClock;
    const options: EmailClientOptions = {
      additionalPolicies: [
        { policy: this.throttleBudgetPolicy(), position: 'perRetry' },
        { policy: sendGuardPolicy(), position: 'perRetry' },
        { policy: requestTimeoutPolicy(opts.requestTimeoutMs ?? 30_000), position: 'perRetry' },
      ],
    };
    // A connection string is an explicit choice of HMAC auth; otherwise the rotator's own identity.
    if (settings.connectionString) this.client = new EmailClient(settings.connectionString, options);
    else if (settings.endpoint) this.client = new EmailClient(settings.endpoint, credential, options);
    else throw new Error('mail: neither ACS_ENDPOINT nor ACS_CONNECTION_STRING is set');
  }

  /** Milliseconds of throttling wait left for this run. */
  get remainingWaitMs(): number {
    return this.budgetMs;
  }

  private get operations(): OperationReader {
    return (this.client as unknown as { generatedClient: { email: OperationReader } }).generatedClient.email;
  }

  /**
   * Sits inside the SDK's retry loop and sees every throttled response before the SDK decides to wait.
   * Within budget: the wait is charged and the SDK (or our own loop in send) waits it. Over budget: the
   * retry hint is removed, so the SDK gives up at once instead of sleeping for as long as ACS asks
   * (an hour on a managed domain's hourly limit).
   */
  private throttleBudgetPolicy(): PipelinePolicy {
    return {
      name: 'rotatorThrottleBudget',
      sendRequest: async (request, next): Promise<PipelineResponse> => {
        const response = await next(request);
        if (response.status !== 429 && response.status !== 503) return response;
        const ms = parseRetryAfter((n) => response.headers.get(n), this.clock.now());
        if (ms === undefined) return response;
        if (ms <= this.budgetMs) {
          this.budgetMs -= ms;
          this.log(`mail: ACS throttled (${response.status}), waiting ${Math.ceil(ms / 1000)} s`);
        } else {
          for (const name of RETRY_AFTER_HEADERS) response.headers.delete(name);
          response.headers.set(BUDGET_HEADER, 'exhausted');
          this.budgetMs = 0;
          this.log(
            `mail: ACS asks to wait ${Math.ceil(ms / 1000)} s, more than this run may wait; giving up`,
          );
        }
        return response;
      },
    };
  }

  /** Reads an operation, with the wait ACS asks for before the next read (Retry-After, else our poll interval). */
  private async read(operationId: string): Promise<Operation & { nextPollMs: number }> {
    let nextPollMs = this.pollIntervalMs;
    const op = await this.operations.getSendResult(operationId, {
      onResponse: (raw) => {
        const ms = parseRetryAfter((n) => raw.headers.get(n), this.clock.now());
        if (ms !== undefined && ms > 0) nextPollMs = ms;
      },
    });
    return { ...op, nextPollMs };
  }

  /** The operation ACS has under this id; undefined when it has none (404: the send was never accepted). */
  private async lookUp(operationId: string): Promise<(Operation & { nextPollMs: number }) | undefined> {
    try {
      return await this.read(operationId);
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  /** Polls an operation ACS already has until it ends or the deadline passes (then it is left running). */
  private async follow(op: Operation & { nextPollMs: number }, deadline: Date): Promise<Operation> {
    let current = op;
    while (!TERMINAL.has(current.status)) {
      if (this.clock.now() >= deadline) return current;
      await this.clock.sleep(current.nextPollMs);
      current = await this.read(op.id);
    }
    return current;
  }

  /** POSTs the message and waits for the poller (which honours ACS's Retry-After between polls). */
  private async submit(
    to: readonly string[],
    message: { subject: string; plainText: string; html: string },
    operationId: string,
  ): Promise<Operation> {
    const patience = AbortSignal.timeout(this.pollTimeoutMs);
    try {
      // beginSend POSTs and already reads the status once; pollUntilDone reads it until the operation ends.
      const poller = await this.client.beginSend(
        {
          senderAddress: this.sender,
          recipients: { to: to.map((address) => ({ address })) },
          content: { subject: message.subject, plainText: message.plainText, html: message.html },
        },
        { operationId, updateIntervalInMs: this.pollIntervalMs },
      );
      const result = await poller.pollUntilDone({ abortSignal: patience });
      return { id: operationId, status: result.status, error: result.error };
    } catch (e) {
      // Accepted, still running when our patience ended: ACS delivers it on its own; sending again would not help.
      if (patience.aborted) return { id: operationId, status: 'Running' };
      // The poller throws when the operation ended Failed: that is an answer, not a reason to try again.
      if (/^The long-running operation has failed/.test((e as ErrorLike).message ?? ''))
        return { id: operationId, status: 'Failed', description: describeMailError(e) };
      // A status read (GET) throttled past this run's budget: the POST before it was accepted, so ACS delivers the
      // message without us, and holding it for the next run would send it twice.
      if (isThrottled(e) && (e as ErrorLike).request?.method === 'GET') {
        this.log(
          `mail: accepted as ${operationId}; its status reads are throttled (${describeMailError(e)})`,
        );
        return { id: operationId, status: 'Running' };
      }
      throw e;
    }
  }

  /** Whether ACS holds this operation and has not failed it: a message accepted under this id reaches its recipients. */
  async accepted(operationId: string): Promise<boolean> {
    const op = await this.lookUp(operationId);
    return op !== undefined && op.status !== 'Failed' && op.status !== 'Canceled';
  }

  /** Sends one message; `operationId` must be deterministic for (runId, recipient) so a retried send is idempotent.
   *  Honours 429 Retry-After beyond the SDK's own retries, up to maxWaitMs in total per run, then reports 'failed'
   *  (the caller keeps it pending for the next run). */
  async send(
    recipients: string | readonly string[],
    message: { subject: string; plainText: string; html: string },
    operationId: string,
  ): Promise<SendResult> {
    // Several recipients share one message only when their digests are identical (contract §8 "Shared messages").
    const list = typeof recipients === 'string' ? [recipients] : [...recipients];
    const to = list.join(', ');
    const failed = (error: string): SendResult => {
      this.log(`mail to ${to}: failed (${error})`);
      return { to, status: 'failed', operationId, error };
    };
    const size = Buffer.byteLength(message.html) + Buffer.byteLength(message.plainText);
    if (size > MAX_MESSAGE_BYTES)
      return failed(`message too large for ACS (${(size / 1048576).toFixed(1)} MB)`);

    const deadline = new Date(this.clock.now().getTime() + this.pollTimeoutMs);
    let ambiguous = 0;
    /** ACS has this operation (a lookup found it): it delivers the message whatever our status reads meet. */
    let accepted = false;
    let result: Operation;
    try {
      result = await withRetry(
        async () => {
          const existing = await this.lookUp(operationId);
          accepted ||= existing !== undefined;
          return existing ? this.follow(existing, deadline) : this.submit(list, message, operationId);
        },
        {
          attempts: Infinity,
          clock: this.clock,
          // A throttled request waits what our budget policy charged; one without a Retry-After left is over budget.
          retryable: (e) =>
            isThrottled(e)
              ? retryAfterOf(e, this.clock.now()) !== undefined
              : isAmbiguous(e) && ++ambiguous < AMBIGUOUS_TRIES,
          waitMs: (e) => (isThrottled(e) ? retryAfterOf(e, this.clock.now()) : undefined),
          backoffMs: () => 1000,
        },
      );
    } catch (e) {
      // Reads throttled past the budget after a lookup found the operation: reporting it failed would hold the
      // notice, and the next run would tell its recipients a second time (the soak's told-once finding).
      if (!(accepted && isThrottled(e))) return failed(sendFailure(e));
      this.log(`mail: ${operationId} was accepted; its status reads are throttled (${describeMailError(e)})`);
      result = { id: operationId, status: 'Running' };
    }
    if (result.status === 'Succeeded' || result.status === 'Running') {
      const still = result.status === 'Running' ? ', accepted and still running: ACS delivers it' : '';
      this.log(`mail to ${to}: sent (operation ${operationId}${still})`);
      return { to, status: 'sent', operationId };
    }
    if (result.description) return failed(result.description);
    const why = [result.error?.code, result.error?.message].filter(Boolean).join('. ');
    if (result.status === 'Failed' && why) return failed(line(`ACS did not deliver: ${why}`));
    return failed(line(`ACS ended the operation as ${result.status}${why ? `: ${why}` : ''}`));
  }
}

/** Why a send failed, in one line (a throttled one says whether this run's wait budget ran out). */
function sendFailure(e: unknown): string {
  if (!isThrottled(e)) return describeMailError(e);
  const exhausted = (e as ErrorLike).response?.headers?.get(BUDGET_HEADER) === 'exhausted';
  return exhausted
    ? `ACS throttled the send (${statusOf(e)}) for longer than this run may wait; it stays pending`
    : `ACS throttled the send (${statusOf(e)}) without saying how long to wait`;
}

/**
 * Stops the SDK from sending a POST again after an attempt that failed without a clear "not done" (a lost
 * connection, a server error): `send` looks the operation up first instead. A 429 was not carried out, so its
 * retries go on.
 */
function sendGuardPolicy(): PipelinePolicy {
  const ambiguous = new WeakSet<PipelineRequest>();
  return {
    name: 'rotatorSendGuard',
    sendRequest: async (request, next): Promise<PipelineResponse> => {
      if (request.method !== 'POST') return next(request);
      if (ambiguous.has(request)) throw new AmbiguousSendError();
      try {
        const response = await next(request);
        if (response.status >= 500) ambiguous.add(request);
        return response;
      } catch (e) {
        ambiguous.add(request);
        throw e;
      }
    },
  };
}

/** Gives every request to ACS a deadline (the SDK sets none), so a hung answer is retried instead of waited on. */
function requestTimeoutPolicy(ms: number): PipelinePolicy {
  return {
    name: 'rotatorRequestTimeout',
    sendRequest: (request, next) => {
      if (!request.timeout) request.timeout = ms;
      return next(request);
    },
  };
}
