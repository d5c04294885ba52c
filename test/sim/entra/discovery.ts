// Discovery documents of the simulated authority: OpenID metadata and the JWKS with the RS256 signing key
// (what a resource server, such as the rotator's own API, fetches to check Entra access tokens).
import type { SimContext } from '../cloud.js';
import type { SimRequest, SimResponse } from '../http.js';
import { tenantOf } from './common.js';

export const openidConfiguration =
  (ctx: SimContext) =>
  (req: SimRequest): SimResponse => {
    const tid = tenantOf(ctx, req);
    const base = `${ctx.origins.entra}/${tid}`;
    return {
      status: 200,
      body: {
        token_endpoint: `${base}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: [
          'client_secret_post',
          'private_key_jwt',
          'client_secret_basic',
        ],
        jwks_uri: `${base}/discovery/v2.0/keys`,
        response_modes_supported: ['query', 'fragment', 'form_post'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        issuer: `${base}/v2.0`,
        request_uri_parameter_supported: false,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        http_logout_supported: true,
        frontchannel_logout_supported: true,
        claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'oid', 'tid', 'roles'],
        tenant_region_scope: 'EU',
        cloud_instance_name: 'microsoftonline.com',
        cloud_graph_host_name: 'graph.windows.net',
        msgraph_host: 'graph.microsoft.com',
      },
    };
  };

export const keys =
  (ctx: SimContext) =>
  (req: SimRequest): SimResponse => {
    tenantOf(ctx, req);
    return { status: 200, body: { keys: [ctx.issuer.jwk] } };
  };
