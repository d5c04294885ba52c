// Queue worker: rotates one app per message of a fanned-out run and records the result in the run table; the
// worker that completes the run sends its digest. Duplicate deliveries are harmless: a rotation already recorded
// for the run is not repeated, and reconcile re-decides inside the app's lock. A malformed message is logged and
// dropped (retrying cannot fix it); anything else that throws is retried by the host, then lands in the poison queue.
import type { InvocationContext } from '@azure/functions';
import { parseWorkMessage } from '../../azure/queue.js';
import { shareGraphWrites } from '../../azure/write-ledger-table.js';
import { describeError } from '../../errors.js';
import { fromQueue } from '../../handoff.js';
import { envEdge, runOnce, type Edge } from '../../run.js';
import { connectRun } from '../lib/invocation.js';

export function rotateWorkerHandler(edge: Edge) {
  return async (item: unknown, context: InvocationContext): Promise<void> => {
    const parsed = parseWorkMessage(item);
    if (!parsed.ok) {
      context.warn(JSON.stringify({ event: 'rotation-message-dropped', problem: parsed.problem }));
      return;
    }
    const { runId, appId, force, revokeSuperseded } = parsed.message;
    try {
      const deps = await connectRun(edge, context, { requireKeyVault: true });
      // The instances' writes share Graph's write budget (src/azure/write-ledger.ts).
      shareGraphWrites(deps.services.graph.budget, deps.settings, deps.services.credential, deps.clock);
      const request = { mode: 'rotate' as const, appIds: [appId], runId, force, revokeSuperseded };
      const { result, previous } = await runOnce(deps, 'worker', fromQueue(appId), request);
      const report = result?.report.apps[0];
      const { action = previous?.action, reason } = report ?? {};
      if (report)
        context.log(JSON.stringify({ event: 'rotation-app', runId, appId, action: report.action, reason }));
      if (previous) context.log(JSON.stringify({ event: 'rotation-app-redelivered', runId, appId, action }));
    } catch (err) {
      const error = describeError(err);
      context.error(JSON.stringify({ event: 'rotation-app-error', runId, appId, error }));
      throw new Error(`rotating ${appId} for run ${runId} failed: ${error}`);
    }
  };
}

/** The registered handler: the environment is read once per invocation. */
export const rotateWorker = (item: unknown, context: InvocationContext) =>
  rotateWorkerHandler(envEdge(process.env))(item, context);
