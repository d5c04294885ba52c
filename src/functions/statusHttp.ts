// GET /api/status (issue 16 §6): the registration; the handler (handlers/statusHttp.ts) loads when first run.
import { app, type HttpRequest, type InvocationContext } from '@azure/functions';
import type { Edge } from '../run.js';

const load = () => import('./handlers/statusHttp.js');

export const statusHttpHandler = (edge: Edge) => async (request: HttpRequest, context: InvocationContext) =>
  (await load()).statusHttpHandler(edge)(request, context);

/** The registered handler: the environment is read once per invocation. */
export const statusHttp = async (request: HttpRequest, context: InvocationContext) =>
  (await load()).statusHttp(request, context);

app.http('status', {
  methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
  authLevel: 'function', // a second factor: the caller's Entra token is checked by the handler
  route: 'status',
  handler: statusHttp,
});
