// The App Service style managed identity endpoint (plain http, X-IDENTITY-HEADER, api-version 2019-08-01): tokens
// for the rotator's own identity, and 400 (never 404/410) for any other.
import { randomUUID } from 'node:crypto';
import type { SimContext, SimService } from '../cloud.js';
import { SimHttpError, type ErrorShape, type SimRequest, type SimResponse } from '../http.js';
import { headerValue, mintFor, TOKEN_LIFETIME } from './common.js';

const miErrors: ErrorShape = {
  // App Service's identity endpoint answers errors as {statusCode, message, correlationId}.
  body: (status, _code, message) => ({ statusCode: status, message, correlationId: randomUUID() }),
};

export function managedIdentity(ctx: SimContext): SimService {
  const token = async (req: SimRequest): Promise<SimResponse> => {
    if (headerValue(req, 'x-identity-header') !== ctx.identityHeader) {
      throw new SimHttpError(
        401,
        'Unauthorized',
        'The X-IDENTITY-HEADER header is missing or does not match.',
      );
    }
    const apiVersion = req.query.get('api-version');
    if (!apiVersion)
      throw new SimHttpError(400, 'BadRequest', 'The api-version query parameter is required.');
    if (apiVersion !== '2019-08-01') {
      throw new SimHttpError(
        400,
        'BadRequest',
        `The api-version '${apiVersion}' is not supported; use 2019-08-01.`,
      );
    }
    const resource = req.query.get('resource');
    if (!resource) throw new SimHttpError(400, 'BadRequest', 'The resource query parameter is required.');
    // Only the rotator's identity is assigned to this app. Unknown identities get 400, never 404/410,
    // which @azure/identity would retry five times with growing delays.
    const clientId = req.query.get('client_id');
    const objectId = req.query.get('object_id') ?? req.query.get('principal_id');
    const resId = req.query.get('mi_res_id') ?? req.query.get('msi_res_id');
    if (
      (clientId !== null && clientId.toLowerCase() !== ctx.rotator.appId.toLowerCase()) ||
      (objectId !== null && objectId.toLowerCase() !== ctx.rotator.id.toLowerCase()) ||
      resId !== null
    ) {
      throw new SimHttpError(
        400,
        'BadRequest',
        'Unable to load the proper Managed Identity: no identity with the requested id is assigned to this app.',
      );
    }
    req.subject = ctx.rotator.appId;
    return {
      status: 200,
      body: {
        access_token: await mintFor(ctx, ctx.rotator, resource),
        // In real time, not the cloud's: the SDK caches the token by this against its own Date.now().
        expires_on: String(Math.floor(Date.now() / 1000) + TOKEN_LIFETIME),
        resource,
        token_type: 'Bearer',
        client_id: ctx.rotator.appId,
      },
    };
  };

  return {
    errors: miErrors,
    routes: [{ method: 'GET', pattern: /^\/msi\/token\/?$/, op: 'mi.token', handler: token }],
  };
}
