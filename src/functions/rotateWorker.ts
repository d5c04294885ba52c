// Queue worker: rotates one app per message of a fanned-out run. The registration; the handler
// (handlers/rotateWorker.ts) loads when first run, so a cold start imports only @azure/functions.
import { app, type InvocationContext } from '@azure/functions';
import { WORK_QUEUE } from '../azure/queue-names.js';
import type { Edge } from '../run.js';

const load = () => import('./handlers/rotateWorker.js');

export const rotateWorkerHandler = (edge: Edge) => async (item: unknown, context: InvocationContext) =>
  (await load()).rotateWorkerHandler(edge)(item, context);

/** The registered handler: the environment is read once per invocation. */
export const rotateWorker = async (item: unknown, context: InvocationContext) =>
  (await load()).rotateWorker(item, context);

app.storageQueue('rotateWorker', {
  queueName: WORK_QUEUE,
  connection: 'AzureWebJobsStorage',
  handler: rotateWorker,
});
