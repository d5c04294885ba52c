// The work queue of the fan-out: one message per app to rotate, read by the rotateWorker function.
// The Functions host's queue extension (5.x) base64-decodes messages by default (host.json
// extensions.queues.messageEncoding "base64"), while the v12 Storage SDK sends text as is: so we encode here.
import type { TokenCredential } from '@azure/identity';
import type { QueueClient, QueueServiceClient } from '@azure/storage-queue';
import type { StorageSettings } from '../settings.js';
import { isGuid } from '../util/ids.js';
import { WORK_QUEUE } from './queue-names.js';

export { POISON_QUEUE, WORK_QUEUE } from './queue-names.js';

export interface WorkMessage {
  runId: string;
  appId: string;
  force: boolean;
  /** Emergency (§8): revoke the app's other secrets once the new one is stored. */
  revokeSuperseded?: boolean;
}

export { isGuid };

/** Text to put on the queue: base64 of the JSON, the way the host decodes it. */
export function encodeWorkMessage(m: WorkMessage): string {
  const revoke = m.revokeSuperseded ? { revokeSuperseded: true } : {};
  return Buffer.from(
    JSON.stringify({ runId: m.runId, appId: m.appId, force: m.force, ...revoke }),
    'utf8',
  ).toString('base64');
}

/** What the host hands a queue function for a message we sent: the decoded text (JSON arrives parsed). */
export function decodeAsHost(messageText: string): unknown {
  const text = Buffer.from(messageText, 'base64').toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * A queue item as a work message, or why it is not one. The host passes JSON messages parsed and others as
 * strings (or bytes); anyone with queue access can put anything there, so every field is checked.
 */
export function parseWorkMessage(
  item: unknown,
): { ok: true; message: WorkMessage } | { ok: false; problem: string } {
  let value = item;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) value = Buffer.from(value).toString('utf8');
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      return { ok: false, problem: 'not JSON' };
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { ok: false, problem: 'not a JSON object' };
  const m = value as Record<string, unknown>;
  if (!isGuid(m.appId)) return { ok: false, problem: 'appId is missing or not a GUID' };
  if (typeof m.runId !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(m.runId))
    return { ok: false, problem: 'runId is missing or malformed' };
  if (m.force !== undefined && typeof m.force !== 'boolean')
    return { ok: false, problem: 'force is not a boolean' };
  if (m.revokeSuperseded !== undefined && typeof m.revokeSuperseded !== 'boolean')
    return { ok: false, problem: 'revokeSuperseded is not a boolean' };
  const revoke = m.revokeSuperseded === true ? { revokeSuperseded: true } : {};
  return {
    ok: true,
    message: { runId: m.runId, appId: m.appId.toLowerCase(), force: m.force === true, ...revoke },
  };
}

// Short retries: an invocation that cannot enqueue fails and is retried as a whole (the next timer, the caller),
// rather than spending the SDK's default 4 s-doubling backoff inside an HTTP request's 230 s.
const RETRY = { maxTries: 4, retryDelayInMs: 500, maxRetryDelayInMs: 4000 };

/** The Queue SDK is loaded with the first enqueue, not at import: a run that never fans out never loads it. */
export async function queueServiceClient(
  storage: StorageSettings,
  credential: TokenCredential,
): Promise<QueueServiceClient> {
  const { QueueServiceClient } = await import('@azure/storage-queue');
  return storage.kind === 'connectionString'
    ? QueueServiceClient.fromConnectionString(storage.connectionString, { retryOptions: RETRY })
    : new QueueServiceClient(storage.queueServiceUri, credential, { retryOptions: RETRY });
}

export class WorkQueue {
  /** The queue client, once the queue exists. */
  private ready?: Promise<QueueClient>;

  constructor(
    private readonly storage: StorageSettings,
    private readonly credential: TokenCredential,
    private readonly name = WORK_QUEUE,
  ) {}

  private async queue(): Promise<QueueClient> {
    const client = (await queueServiceClient(this.storage, this.credential)).getQueueClient(this.name);
    await client.createIfNotExists();
    return client;
  }

  async enqueue(messages: readonly WorkMessage[]): Promise<void> {
    this.ready ??= this.queue();
    const client = await this.ready;
    // Small batches in parallel: a large fan-out should not take one round trip per app in sequence.
    for (let i = 0; i < messages.length; i += 16) {
      await Promise.all(messages.slice(i, i + 16).map((m) => client.sendMessage(encodeWorkMessage(m))));
    }
  }
}
