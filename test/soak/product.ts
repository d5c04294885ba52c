// The real product, driven in this thread the way the Functions host drives it: the timer handler (the daily run),
// the HTTP handler (POST /api/rotate, for two runs at once), and the queue worker and poison handlers for the apps
// the timer fans out. Every handler gets the soak's Edge: settings from the soak's environment, the soak's clock,
// real adapters. Everything they print goes to `emit` for the leak scanner; which app ended how is read from their
// log lines (the timer reports counts only), the HTTP answer, and the worker's per-app events.
import functions, { type InvocationContext, type Timer } from '@azure/functions';
import { randomUUID } from 'node:crypto';
import { QueueClient } from '@azure/storage-queue';
import { decodeAsHost, POISON_QUEUE, WORK_QUEUE } from '../../src/azure/queue.js';
import { rotateHttpHandler } from '../../src/functions/rotateHttp.js';
import { rotatePoisonHandler } from '../../src/functions/rotatePoison.js';
import { rotateTimerHandler } from '../../src/functions/rotateTimer.js';
import { rotateWorkerHandler } from '../../src/functions/rotateWorker.js';
import type { Report } from '../../src/rotation/report.js';
import { createServices, type Edge } from '../../src/run.js';
import { loadSettings, type Settings } from '../../src/settings.js';
import type { Clock } from '../../src/util/clock.js';

export type Emit = (where: string, text: string) => void;

export interface ProductRunOptions {
  env: Record<string, string>;
  clock: Clock;
  emit: Emit;
  label: string;
  /** A deliberately broken variant: settings changed the way a bug would (e.g. retireAfterDays 0). */
  breakSettings?: (s: Settings) => Settings;
  /** A caller token for POST /api/rotate (the endpoint refuses calls without one). */
  callerToken?: () => Promise<string>;
}

/** How one app ended in a run, as the product said it. */
export interface AppOutcome {
  appId: string;
  action: string;
}

export interface RunOutcome {
  /** The handler finished (did not throw); a run that threw still did what it did. */
  finished: boolean;
  apps: AppOutcome[];
}

/** The host's maxDequeueCount (host.json default): a message failing this often goes to the poison queue. */
const MAX_DEQUEUE = 5;

export function soakEdge(o: ProductRunOptions): Edge {
  return {
    settings: (opts) => {
      const s = loadSettings(o.env, opts);
      return o.breakSettings ? o.breakSettings(s) : s;
    },
    clock: o.clock,
    services: (settings) => createServices(settings, undefined, o.clock),
  };
}

// The package is CommonJS: its classes come through the default export under plain Node ESM (npm run soak), where
// named imports of them fail.
const { HttpRequest, InvocationContext: Context } = functions;

/** An InvocationContext whose log lines go to `emit` and whose per-app lines become outcomes. */
function context(
  o: ProductRunOptions,
  name: string,
  apps: AppOutcome[],
  triggerMetadata?: Record<string, unknown>,
): InvocationContext {
  const onLog = (level: string, line: string) => {
    o.emit(`${o.label} ${name} ${level}`, line);
    let e: { msg?: string; event?: string; appId?: string; action?: string };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      return;
    }
    if (!e.appId) return;
    // The timer's engine lines name each changed app; the worker's own event sums its run up (its engine lines
    // would count the app twice); the HTTP run's answer is its report.
    if (name === 'rotateWorker') {
      if (e.event === 'rotation-app' && e.action) apps.push({ appId: e.appId, action: e.action });
    } else if (name !== 'rotate' && e.msg === 'rotated') apps.push({ appId: e.appId, action: 'rotated' });
    else if (name !== 'rotate' && (e.msg === 'rotation failed' || e.msg === 'app failed'))
      apps.push({ appId: e.appId, action: 'failed' });
  };
  return new Context({
    invocationId: randomUUID(),
    functionName: name,
    triggerMetadata,
    logHandler: (level, ...args) => onLog(level, args.map(String).join(' ')),
  });
}

/** The daily timer run, then the host delivering the fanned-out apps to the queue worker. */
export async function timerRun(o: ProductRunOptions): Promise<RunOutcome> {
  const apps: AppOutcome[] = [];
  const timer = {
    isPastDue: false,
    schedule: { adjustForDST: false },
    scheduleStatus: undefined,
  } as unknown as Timer;
  let finished = true;
  try {
    await rotateTimerHandler(soakEdge(o))(timer, context(o, 'rotateTimer', apps));
  } catch (err) {
    finished = false;
    o.emit(`${o.label} timer error`, String((err as Error)?.message ?? err));
  }
  await pumpQueue(o, apps);
  return { finished, apps };
}

/** POST /api/rotate for the whole scope, as a second run at the same time as the timer's. */
export async function httpRun(o: ProductRunOptions): Promise<RunOutcome> {
  const apps: AppOutcome[] = [];
  const request = new HttpRequest({
    method: 'POST',
    url: 'https://rotator.example/api/rotate',
    headers: {
      'content-type': 'application/json',
      ...(o.callerToken ? { authorization: `Bearer ${await o.callerToken()}` } : {}),
    },
    body: { string: '{}' },
  });
  const res = await rotateHttpHandler(soakEdge(o))(request, context(o, 'rotate', apps));
  o.emit(`${o.label} HTTP ${res.status}`, JSON.stringify(res.jsonBody ?? res.body ?? ''));
  const report = res.status === 200 ? (res.jsonBody as Report) : undefined;
  for (const a of report?.apps ?? []) apps.push({ appId: a.appId, action: a.action });
  await pumpQueue(o, apps);
  return { finished: res.status === 200, apps };
}

/** The Functions host's part: deliver each queued work message to the worker (retrying a failure up to
 *  maxDequeueCount times, then to the poison handler), 16 at a time, until the queue is empty. */
async function pumpQueue(o: ProductRunOptions, apps: AppOutcome[]): Promise<void> {
  const storage = o.env.AzureWebJobsStorage;
  if (!storage) return;
  const queue = new QueueClient(storage, WORK_QUEUE);
  if (!(await queue.exists())) return;
  const worker = rotateWorkerHandler(soakEdge(o));
  const poison = rotatePoisonHandler(soakEdge(o));
  for (;;) {
    const { receivedMessageItems: batch } = await queue.receiveMessages({
      numberOfMessages: 16,
      visibilityTimeout: 300,
    });
    if (!batch.length) return;
    await Promise.all(
      batch.map(async (m) => {
        const item = decodeAsHost(m.messageText);
        for (let dequeueCount = 1; ; dequeueCount++) {
          try {
            await worker(item, context(o, 'rotateWorker', apps, { dequeueCount }));
            break;
          } catch {
            if (dequeueCount < MAX_DEQUEUE) continue;
            o.emit(`${o.label} ${POISON_QUEUE}`, m.messageText);
            await poison(item, context(o, 'rotatePoison', apps, { dequeueCount })).catch(() => undefined);
            break;
          }
        }
        await queue.deleteMessage(m.messageId, m.popReceipt);
      }),
    );
  }
}

/** The product's clock in the soak: the cloud's time, and waiting moves the cloud forward instead of the wall clock
 *  (a replication delay of minutes costs no real minutes). */
export function fastClock(cloud: { now(): Date; advance(ms: number): void }): Clock {
  return {
    now: () => cloud.now(),
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason as Error);
        cloud.advance(Math.max(0, ms));
        setImmediate(resolve);
      }),
  };
}
