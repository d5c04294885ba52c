// GET /api/scan (contract.md §6): the registration; the handler (handlers/scanHttp.ts) loads when first run.
import { app, type HttpRequest, type InvocationContext } from '@azure/functions';
import type { Edge } from '../run.js';

const load = () => import('./handlers/scanHttp.js');

export const scanHttpHandler = (edge: Edge) => async (request: HttpRequest, context: InvocationContext) =>
  (await load()).scanHttpHandler(edge)(request, context);

/** The registered handler: the environment is read once per invocation. */
export const scanHttp = async (request: HttpRequest, context: InvocationContext) =>
  (await load()).scanHttp(request, context);

app.http('scan', {
  methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
  authLevel: 'function', // a second factor: the caller's Entra token is checked by the handler
  route: 'scan',
  handler: scanHttp,
});
