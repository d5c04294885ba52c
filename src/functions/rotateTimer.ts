// Timer: every ROTATION_SCHEDULE, rotate the whole scope in one pass. The registration; the handler
// (handlers/rotateTimer.ts) loads when first run, so a cold start imports only @azure/functions.
import { app, type InvocationContext, type Timer } from '@azure/functions';
import type { Edge } from '../run.js';

const load = () => import('./handlers/rotateTimer.js');

export const rotateTimerHandler = (edge: Edge) => async (timer: Timer, context: InvocationContext) =>
  (await load()).rotateTimerHandler(edge)(timer, context);

/** The registered handler: the environment is read once per invocation. */
export const rotateTimer = async (timer: Timer, context: InvocationContext) =>
  (await load()).rotateTimer(timer, context);

app.timer('rotateTimer', { schedule: '%ROTATION_SCHEDULE%', handler: rotateTimer });
