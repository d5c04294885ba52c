// Poison queue: a work message the worker failed on maxDequeueCount times (host.json) ends up here. The app is
// recorded as failed in its run, so it is reported rather than lost, its owners learn of it in the run's digest,
// and the run can complete.
import type { InvocationContext } from '@azure/functions';
import { parseWorkMessage } from '../../azure/queue.js';
import { describeError } from '../../errors.js';
import { recordGaveUp } from '../../handoff.js';
import { envEdge, type Edge } from '../../run.js';
import { connectRun } from '../lib/invocation.js';

export function rotatePoisonHandler(edge: Edge) {
  return async (item: unknown, context: InvocationContext): Promise<void> => {
    const parsed = parseWorkMessage(item);
    if (!parsed.ok) {
      context.warn(JSON.stringify({ event: 'rotation-poison-dropped', problem: parsed.problem }));
      return;
    }
    const { runId, appId } = parsed.message;
    const count = context.triggerMetadata?.dequeueCount;
    try {
      const deps = await connectRun(edge, context, { requireKeyVault: false });
      const recorded = await recordGaveUp(deps, runId, appId, typeof count === 'number' ? count : undefined);
      context.log(JSON.stringify({ event: 'rotation-app-poisoned', runId, appId, recorded }));
    } catch (err) {
      const error = describeError(err);
      context.error(JSON.stringify({ event: 'rotation-poison-error', runId, appId, error }));
      throw new Error(`recording the poisoned message for ${appId} (run ${runId}) failed: ${error}`);
    }
  };
}

/** The registered handler: the environment is read once per invocation. */
export const rotatePoison = (item: unknown, context: InvocationContext) =>
  rotatePoisonHandler(envEdge(process.env))(item, context);
