// GET /api/scan (contract.md §6): the inventory of the apps in scope and what a rotation would do; changes nothing.
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { runRotation } from '../rotation/engine.js';
import { loadSettings } from '../settings.js';
import { contextLogger } from './lib/fanout.js';
import { errorResponse, json, requireMethod } from './lib/http.js';

export async function scanHttp(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  try {
    requireMethod(request, 'GET');
    const settings = loadSettings(process.env, { requireKeyVault: false });
    const { report } = await runRotation(settings, { mode: 'scan', log: contextLogger(context) });
    return json(200, report);
  } catch (err) {
    return errorResponse(err, context);
  }
}

app.http('scan', {
  methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
  authLevel: 'function',
  route: 'scan',
  handler: scanHttp,
});
