// How we talk to ACS Email: one message per recipient, idempotent per (run, recipient) through the
// Operation-Id header, with throttling waits bounded per run so a rate-limited domain cannot stall a run.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmailClient, type EmailClientOptions } from '@azure/communication-email';
import type { TokenCredential } from '@azure/identity';

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
  /** Poll interval when ACS sends no retry-after (default 500 ms). */
  pollIntervalMs?: number;
  /** How long one send may wait for ACS to finish the operation (default 120 s). */
  pollTimeoutMs?: number;
  log?: (line: string) => void;
}

type PipelinePolicy = NonNullable<EmailClientOptions['additionalPolicies']>[number]['policy'];
type PipelineResponse = Awaited<ReturnType<PipelinePolicy['sendRequest']>>;

// ACS refuses requests over 10 MB; stop short of it instead of sending a doomed request.
const MAX_MESSAGE_BYTES = 9.5 * 1024 * 1024;
const RETRY_AFTER_HEADERS = ['retry-after-ms', 'x-ms-retry-after-ms', 'retry-after'] as const;
// Marks a throttled response whose wait this run can no longer afford (set by our own policy, never by ACS).
const BUDGET_HEADER = 'x-rotator-wait-budget';
// Fixed namespace for name-based (v5) operation ids.
const OPERATION_NAMESPACE = Buffer.from('5b3f0a2e8c1d4e7fa6b9d2c4e1f08a37', 'hex');

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

/** Milliseconds a throttled response asks us to wait, read the way the SDK reads it; undefined when it does not say. */
function retryAfterMs(get: (name: string) => string | undefined | null): number | undefined {
  for (const name of RETRY_AFTER_HEADERS) {
    const raw = get(name);
    if (raw === undefined || raw === null || raw === '') continue;
    const n = Number(raw);
    if (Number.isFinite(n)) return Math.max(0, name === 'retry-after' ? n * 1000 : n);
    if (name === 'retry-after') {
      const at = Date.parse(raw);
      if (Number.isFinite(at)) return Math.max(0, at - Date.now());
    }
  }
  return undefined;
}

interface ErrorLike {
  name?: string;
  message?: string;
  code?: string;
  statusCode?: number;
  response?: { headers?: { get(name: string): string | undefined } };
}

function oneLine(s: string, max = 300): string {
  const line = s.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/** One line naming the cause. Built from the error's status, code and first message line only; the request
 *  (and so the message body) is never looked at. */
export function describeMailError(e: unknown): string {
  const err = (typeof e === 'object' && e !== null ? e : { message: String(e) }) as ErrorLike;
  const first = (err.message ?? '').split('\n')[0] ?? '';
  if (err.name === 'AbortError') return 'timed out waiting for ACS to finish the send operation';
  const lro = /^The long-running operation has failed\.?\s*(.*)$/.exec(first);
  if (lro) return oneLine(`ACS did not deliver: ${lro[1] || 'operation failed'}`);
  if (err.statusCode !== undefined) {
    const code = err.code && err.code !== first ? `${err.code}: ` : '';
    return oneLine(`ACS answered ${err.statusCode}: ${code}${first}`);
  }
  if (err.name === 'CredentialUnavailableError' || err.name === 'AuthenticationError') {
    return oneLine(`no token for ACS (${err.name}): ${first}`);
  }
  return oneLine(`${err.code ? `${err.code}: ` : ''}${first || err.name || 'unknown error'}`);
}

export class Mailer {
  private readonly client: EmailClient;
  private readonly sender: string;
  private readonly log: (line: string) => void;
  private readonly pollIntervalMs: number;
  private readonly pollTimeoutMs: number;
  /** Throttling wait still allowed for this run (shared by all sends of this Mailer). */
  private budgetMs: number;

  constructor(settings: MailSettings, credential: TokenCredential, opts: MailerOptions = {}) {
    this.sender = settings.sender;
    this.log = opts.log ?? (() => {});
    this.budgetMs = opts.maxWaitMs ?? 120_000;
    this.pollIntervalMs = opts.pollIntervalMs ?? 500;
    this.pollTimeoutMs = opts.pollTimeoutMs ?? 120_000;
    const options: EmailClientOptions = {
      additionalPolicies: [{ policy: this.throttleBudgetPolicy(), position: 'perRetry' }],
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
        const ms = retryAfterMs((n) => response.headers.get(n));
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

  /** Sends one message; `operationId` must be deterministic for (runId, recipient) so a retried send is idempotent
   *  at ACS (Operation-Id header = SDK option `operationId`). Honours 429 Retry-After beyond the SDK's own retries,
   *  up to maxWaitMs in total per run, then reports 'failed' (the caller keeps it pending for the next run). */
  async send(
    to: string,
    message: { subject: string; plainText: string; html: string },
    operationId: string,
  ): Promise<SendResult> {
    const failed = (error: string): SendResult => {
      this.log(`mail to ${to}: failed (${error})`);
      return { to, status: 'failed', operationId, error };
    };
    const size = Buffer.byteLength(message.html) + Buffer.byteLength(message.plainText);
    if (size > MAX_MESSAGE_BYTES)
      return failed(`message too large for ACS (${(size / 1048576).toFixed(1)} MB)`);

    for (;;) {
      try {
        const poller = await this.client.beginSend(
          {
            senderAddress: this.sender,
            recipients: { to: [{ address: to }] },
            content: { subject: message.subject, plainText: message.plainText, html: message.html },
          },
          { operationId, updateIntervalInMs: this.pollIntervalMs },
        );
        const result = await poller.pollUntilDone({ abortSignal: AbortSignal.timeout(this.pollTimeoutMs) });
        if (result.status === 'Succeeded') {
          this.log(`mail to ${to}: sent (operation ${operationId})`);
          return { to, status: 'sent', operationId };
        }
        const why = result.error ? `${result.error.code ?? ''} ${result.error.message ?? ''}` : '';
        return failed(oneLine(`ACS ended the operation as ${result.status}${why.trim() ? `: ${why}` : ''}`));
      } catch (e) {
        // The SDK gave up on a throttled request whose wait our policy already charged: wait it and go again
        // with the same operationId (ACS returns the existing operation if the first attempt got through).
        const err = e as ErrorLike;
        if (err.statusCode === 429 || err.statusCode === 503) {
          const ms = err.response?.headers ? retryAfterMs((n) => err.response!.headers!.get(n)) : undefined;
          if (ms !== undefined) {
            await sleep(ms);
            continue;
          }
          const exhausted = err.response?.headers?.get(BUDGET_HEADER) === 'exhausted';
          return failed(
            exhausted
              ? `ACS throttled the send (${err.statusCode}) for longer than this run may wait; it stays pending`
              : `ACS throttled the send (${err.statusCode}) without saying how long to wait`,
          );
        }
        return failed(describeMailError(e));
      }
    }
  }
}
