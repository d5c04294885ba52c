// Poison queue: a work message the worker failed on maxDequeueCount times. The registration; the handler
// (handlers/rotatePoison.ts) loads when first run, so a cold start imports only @azure/functions.
import { app, type InvocationContext } from '@azure/functions';
import { POISON_QUEUE } from '../azure/queue-names.js';
import type { Edge } from '../run.js';

const load = () => import('./handlers/rotatePoison.js');

export const rotatePoisonHandler = (edge: Edge) => async (item: unknown, context: InvocationContext) =>
  (await load()).rotatePoisonHandler(edge)(item, context);

/** The registered handler: the environment is read once per invocation. */
export const rotatePoison = async (item: unknown, context: InvocationContext) =>
  (await load()).rotatePoison(item, context);

app.storageQueue('rotatePoison', {
  queueName: POISON_QUEUE,
  connection: 'AzureWebJobsStorage',
  handler: rotatePoison,
});
