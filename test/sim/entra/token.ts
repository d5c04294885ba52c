// The token endpoint, client-credentials grant: parameter checks, then the tenant's sign-in verdict
// (tenant.authenticate: application, service principal, secret, Conditional Access) as Entra's status and error.
import type { SimContext } from '../cloud.js';
import { SimHttpError, type SimRequest, type SimResponse } from '../http.js';
import type { AuthFailure } from '../tenant.js';
import { mintFor, tenantOf, TOKEN_LIFETIME } from './common.js';

/** HTTP status and OAuth error of each sign-in failure, as Entra answers them. */
const SIGN_IN_ERRORS: Record<AuthFailure['code'], [number, string]> = {
  AADSTS700016: [400, 'unauthorized_client'],
  AADSTS7000229: [401, 'invalid_client'],
  AADSTS7000215: [401, 'invalid_client'],
  AADSTS7000222: [401, 'invalid_client'],
  AADSTS53003: [400, 'interaction_required'],
};

export const token =
  (ctx: SimContext) =>
  async (req: SimRequest): Promise<SimResponse> => {
    tenantOf(ctx, req);
    const form = new URLSearchParams(req.body.toString('utf8'));
    const grantType = form.get('grant_type');
    const clientId = form.get('client_id');
    const secret = form.get('client_secret');
    const scope = form.get('scope');
    if (!grantType) {
      throw new SimHttpError(
        400,
        'invalid_request',
        "AADSTS900144: The request body must contain the following parameter: 'grant_type'.",
      );
    }
    if (grantType !== 'client_credentials') {
      // The simulator only models the client-credentials grant (what the rotator and its proofs use).
      throw new SimHttpError(
        400,
        'unsupported_grant_type',
        `AADSTS70003: The app requested an unsupported grant type '${grantType}'.`,
      );
    }
    if (!clientId) {
      throw new SimHttpError(
        400,
        'invalid_request',
        "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
      );
    }
    req.subject = clientId;
    if (!scope) {
      throw new SimHttpError(
        400,
        'invalid_request',
        "AADSTS900144: The request body must contain the following parameter: 'scope'.",
      );
    }
    const scopes = scope.split(' ').filter(Boolean);
    if (scopes.length !== 1) {
      throw new SimHttpError(
        400,
        'invalid_scope',
        `AADSTS70011: The provided request must include a 'scope' input parameter. The provided value for the ` +
          `input parameter 'scope' is not valid. The scope ${scope} is not valid.`,
      );
    }
    const only = scopes[0]!;
    if (!only.endsWith('/.default')) {
      throw new SimHttpError(
        400,
        'invalid_scope',
        `AADSTS1002012: The provided value for scope ${only} is not valid. Client credential flows must have a ` +
          'scope value with /.default suffixed to the resource identifier (application ID URI).',
      );
    }
    if (!secret) {
      throw new SimHttpError(
        401,
        'invalid_client',
        "AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
      );
    }
    const result = ctx.tenant.authenticate(clientId, secret);
    if (!('ok' in result)) {
      // The tenant's messages never contain the secret itself.
      const [status, error] = SIGN_IN_ERRORS[result.code];
      throw new SimHttpError(status, error, `${result.code}: ${result.message}`);
    }
    const sp = ctx.tenant.servicePrincipalByAppId(result.appId);
    if (!sp) throw new Error(`tenant.authenticate admitted ${result.appId}, which has no service principal`);
    const resource = only.slice(0, -'/.default'.length);
    return {
      status: 200,
      headers: { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' },
      body: {
        token_type: 'Bearer',
        expires_in: TOKEN_LIFETIME,
        ext_expires_in: TOKEN_LIFETIME,
        access_token: await mintFor(ctx, sp, resource),
      },
    };
  };
