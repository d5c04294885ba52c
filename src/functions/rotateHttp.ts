// POST /api/rotate (contract.md §6): the registration. What the endpoint does is in handlers/rotateHttp.ts, loaded
// when the function first runs, so a cold start imports only @azure/functions (issue 15 §4).
import { app, type HttpRequest, type InvocationContext } from '@azure/functions';
import type { Edge } from '../run.js';

const load = () => import('./handlers/rotateHttp.js');

export const rotateHttpHandler = (edge: Edge) => async (request: HttpRequest, context: InvocationContext) =>
  (await load()).rotateHttpHandler(edge)(request, context);

/** The registered handler: the environment is read once per invocation. */
export const rotateHttp = async (request: HttpRequest, context: InvocationContext) =>
  (await load()).rotateHttp(request, context);

app.http('rotate', {
  // The function key (host level) stays as a second factor in front of the caller's Entra token (lib/caller.ts).
  // Every method reaches the handler, so a wrong one gets 405 with Allow rather than the host's 404.
  methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
  authLevel: 'function',
  route: 'rotate',
  handler: rotateHttp,
});
