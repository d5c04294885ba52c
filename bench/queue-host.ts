// One Function App instance's queue triggers, as the bench's emergency-queue mode runs them (one such process per
// instance): polls the Azurite queues the way the Functions host's queue extension does, with host.json's settings
// (batchSize, newBatchThreshold, maxPollingInterval, visibilityTimeout between tries, maxDequeueCount then the poison
// queue), and hands each message to the real handlers (rotateWorkerHandler, rotatePoisonHandler) with an
// InvocationContext as the host builds it. Engine log lines go to stderr in the CLI's format, for the bench's phases.
// Stops when stdin closes, after the invocations in flight.
// @azure/functions is CommonJS: Node's ESM loader gives it as one default export.
import functions from '@azure/functions';
import { QueueClient, type DequeuedMessageItem } from '@azure/storage-queue';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sharedGraphBudget } from '../src/azure/graph-budget.js';
import { decodeAsHost, POISON_QUEUE, WORK_QUEUE } from '../src/azure/queue.js';
// The handler modules themselves, not the triggers' lazy wrappers: a warm instance has loaded them already.
import { rotatePoisonHandler } from '../src/functions/handlers/rotatePoison.js';
import { rotateWorkerHandler } from '../src/functions/handlers/rotateWorker.js';
import { envEdge } from '../src/run.js';

const { InvocationContext } = functions;

interface QueueSettings {
  batchSize: number;
  newBatchThreshold: number;
  maxDequeueCount: number;
  visibilityTimeout: string;
  maxPollingInterval: string;
}
const host = JSON.parse(readFileSync(new URL('../host.json', import.meta.url), 'utf8')) as {
  extensions: { queues: QueueSettings };
};
const q = host.extensions.queues;
const seconds = (hms: string) => hms.split(':').reduce((a, x) => a * 60 + Number(x), 0);
/** The host polls an empty queue at growing intervals from about 100 ms up to maxPollingInterval. */
const MIN_POLL_MS = 100;
const MAX_POLL_MS = seconds(q.maxPollingInterval) * 1000;
// While a message is being processed the host keeps it invisible (10 min, renewed); after a failure it becomes
// visible again after visibilityTimeout.
const PROCESSING_VISIBILITY_S = 600;
const RETRY_VISIBILITY_S = seconds(q.visibilityTimeout);

const connection = process.env.AzureWebJobsStorage!;
const edge = envEdge(process.env);
let stopping = false;
const wakers = new Set<() => void>();
process.stdin.on('end', () => {
  stopping = true;
  for (const w of wakers) w();
});
process.stdin.resume();

/** A log line of an invocation, in the CLI's `[entra-secret-rotator] msg {fields}` form. */
function logLine(_level: string, ...args: unknown[]): void {
  const text = args.map(String).join(' ');
  let name = text;
  let fields: Record<string, unknown> = {};
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    const { msg, event, ...rest } = o;
    name = String(msg ?? event ?? text);
    fields = rest;
  } catch {
    // not JSON: as is
  }
  process.stderr.write(`[entra-secret-rotator] ${name} ${JSON.stringify(fields)}\n`);
}

type Handler = (item: unknown, context: InstanceType<typeof InvocationContext>) => Promise<void>;

async function invoke(
  queue: QueueClient,
  poison: QueueClient | undefined,
  fn: string,
  handler: Handler,
  m: DequeuedMessageItem,
) {
  const context = new InvocationContext({
    invocationId: randomUUID(),
    functionName: fn,
    triggerMetadata: { dequeueCount: m.dequeueCount, id: m.messageId, insertionTime: m.insertedOn },
    logHandler: logLine,
  });
  try {
    await handler(decodeAsHost(m.messageText), context);
    await queue.deleteMessage(m.messageId, m.popReceipt);
  } catch {
    // The host: after maxDequeueCount failed tries the message goes to the poison queue, else it is retried later.
    if (poison && m.dequeueCount >= q.maxDequeueCount) {
      await poison.sendMessage(m.messageText);
      await queue.deleteMessage(m.messageId, m.popReceipt);
    } else {
      await queue.updateMessage(m.messageId, m.popReceipt, undefined, RETRY_VISIBILITY_S);
    }
  }
}

/** One queue trigger: at most batchSize + newBatchThreshold invocations at once, as the host runs them. */
async function listen(name: string, fn: string, handler: Handler, poisonName?: string) {
  const queue = new QueueClient(connection, name);
  const poison = poisonName ? new QueueClient(connection, poisonName) : undefined;
  await queue.createIfNotExists();
  await poison?.createIfNotExists();
  const running = new Set<Promise<void>>();
  let delay = MIN_POLL_MS;
  while (!stopping) {
    if (running.size > q.newBatchThreshold) {
      await Promise.race(running);
      continue;
    }
    const { receivedMessageItems: got } = await queue.receiveMessages({
      numberOfMessages: q.batchSize,
      visibilityTimeout: PROCESSING_VISIBILITY_S,
    });
    if (got.length === 0) {
      await new Promise<void>((resolve) => {
        const done = () => (clearTimeout(timer), wakers.delete(done), resolve());
        const timer = setTimeout(done, delay);
        wakers.add(done);
      });
      delay = Math.min(2 * delay, MAX_POLL_MS);
      continue;
    }
    delay = MIN_POLL_MS;
    for (const m of got) {
      const p: Promise<void> = invoke(queue, poison, fn, handler, m)
        .catch((err: unknown) => logLine('error', `host: ${String(err)}`))
        .finally(() => running.delete(p));
      running.add(p);
    }
  }
  await Promise.all(running);
}

process.stderr.write('@@queue-host ready\n');
await Promise.all([
  listen(WORK_QUEUE, 'rotateWorker', rotateWorkerHandler(edge), POISON_QUEUE),
  listen(POISON_QUEUE, 'rotatePoison', rotatePoisonHandler(edge)),
]);
// The shared write budget's Storage traffic (src/azure/write-ledger.ts): reservations made, and those that failed.
const settings = edge.settings({ requireKeyVault: false });
const ledger = sharedGraphBudget(
  edge.clock,
  `${settings.graphEndpoint} ${settings.tenantId ?? ''}`,
).writesShared;
process.stderr.write(`@@ledger ${JSON.stringify(ledger?.stats ?? {})}\n`);
