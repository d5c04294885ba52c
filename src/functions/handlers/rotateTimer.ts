// Timer: every ROTATION_SCHEDULE, rotate the whole scope in one pass. Up to ROTATION_INLINE_MAX (default 10) due
// apps are rotated right here; beyond that every due app is fanned out, one queue message each (see fanOutBeyond
// in src/handoff.ts). Retiring superseded secrets and sweeping orphans happen here either way.
import type { InvocationContext, Timer } from '@azure/functions';
import { randomUUID } from 'node:crypto';
import { describeError } from '../../errors.js';
import { fanOutBeyond } from '../../handoff.js';
import { rootCause } from '../../rotation/engine.js';
import { envEdge, runOnce, type Edge } from '../../run.js';
import { connectRun } from '../lib/invocation.js';

export function rotateTimerHandler(edge: Edge) {
  return async (timer: Timer, context: InvocationContext): Promise<void> => {
    const runId = randomUUID();
    try {
      const deps = await connectRun(edge, context, { requireKeyVault: true });
      const plan = fanOutBeyond(deps.settings.inlineMax);
      const { result, queued, due } = await runOnce(deps, 'timer', plan, { mode: 'rotate', runId });
      const { summary: s, notes = [] } = result!.report;
      const counts = { scanned: s.scanned, due, queued, rotatedInline: s.rotated, failed: s.failed };
      const rest = { upToDate: s.upToDate, skipped: s.skipped - queued, notes };
      context.log(
        JSON.stringify({ event: 'rotation-run', runId, pastDue: timer.isPastDue, ...counts, ...rest }),
      );
    } catch (err) {
      // One line for the operator; throwing makes the host record the invocation as failed.
      const error = describeError(rootCause(err));
      context.error(JSON.stringify({ event: 'rotation-run-failed', runId, error }));
      throw new Error(`rotation run ${runId} failed: ${error}`);
    }
  };
}

/** The registered handler: the environment is read once per invocation. */
export const rotateTimer = (timer: Timer, context: InvocationContext) =>
  rotateTimerHandler(envEdge(process.env))(timer, context);
