// POST /api/rotate (contract.md §6): rotate now, for the whole scope or the listed apps, and answer with the report.
// HTTP triggers must answer within 230 s, so the run stops starting rotations after HTTP_TIME_BUDGET_SECONDS
// (default 200) and queues the apps it has not reached: they are reported `skipped` with reason
// "queued for a worker (run …)", and the run's digest is sent when the last worker is done.
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { requireRoles, rolesForRotate, ROLES } from '../../auth/callers.js';
import { fanOutBeyond, timeBudget } from '../../handoff.js';
import { envEdge, runOnce, type Edge } from '../../run.js';
import { authorizeHttp } from '../lib/caller.js';
import { connectRun } from '../lib/invocation.js';
import { concealOutOfScope, errorResponse, json, parseRotateRequest, requireMethod } from '../lib/http.js';

/**
 * The front end answers 504 after 230 s. Rotations stop at the budget (HTTP_TIME_BUDGET_SECONDS, proofs capped at
 * it); the emails get what is left before 225 s (at least 5 s); a notice not sent by then is held for the next run.
 */
export const mailWaitsAfter = (budgetSeconds: number) => {
  const spareMs = Math.max(5_000, (225 - budgetSeconds) * 1000);
  return { maxWaitMs: spareMs / 2, pollTimeoutMs: spareMs / 2 };
};

export function rotateHttpHandler(edge: Edge) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      requireMethod(request, 'POST');
      // The caller first (contract §8): nothing is read or written for a call without a token and Rotation.Rotate.
      const verified = await authorizeHttp(request, edge, [ROLES.rotate]);
      const body = await parseRotateRequest(request);
      requireRoles(verified, rolesForRotate(body)); // force, all, revokeSuperseded: Rotation.Force too
      const requestedBy = verified.caller;
      const deps = await connectRun(edge, context, { requireKeyVault: !body.dryRun });
      // An emergency (all) is every app: the queue workers take it at once, rather than this call spending its
      // 230 s on Graph's write budget first (docs/reference.md).
      const plan = body.all ? fanOutBeyond(0) : timeBudget(deps.settings.httpTimeBudgetSeconds * 1000);
      const { result, queued } = await runOnce(deps, 'http', plan, {
        mode: 'rotate',
        ...body,
        requestedBy,
        mailer: mailWaitsAfter(deps.settings.httpTimeBudgetSeconds),
      });
      const { runId, summary } = result!.report;
      const line = { event: 'rotation-run', trigger: 'http', runId, requestedBy, ...summary, queued };
      context.log(JSON.stringify(line));
      return json(200, concealOutOfScope(result!.report));
    } catch (err) {
      return errorResponse(err, context);
    }
  };
}

/** The registered handler: the environment is read once per invocation. */
export const rotateHttp = (request: HttpRequest, context: InvocationContext) =>
  rotateHttpHandler(envEdge(process.env))(request, context);
