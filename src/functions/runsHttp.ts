// GET /api/runs/{runId}: the registration; the handler (handlers/runsHttp.ts) loads when first run.
import { app, type HttpRequest, type InvocationContext } from '@azure/functions';
import type { Edge } from '../run.js';

const load = () => import('./handlers/runsHttp.js');

export const runsHttpHandler = (edge: Edge) => async (request: HttpRequest, context: InvocationContext) =>
  (await load()).runsHttpHandler(edge)(request, context);

/** The registered handler: the environment is read once per invocation. */
export const runsHttp = async (request: HttpRequest, context: InvocationContext) =>
  (await load()).runsHttp(request, context);

app.http('runs', {
  methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
  authLevel: 'function', // a second factor: the caller's Entra token is checked by the handler
  route: 'runs/{runId}',
  handler: runsHttp,
});
