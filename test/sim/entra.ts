// The simulated Entra ID: the token authority (entra/discovery.ts: OpenID metadata and JWKS; entra/token.ts: the
// client-credentials token endpoint) and the App Service style managed identity endpoint
// (entra/managed-identity.ts). Both mint tokens with the cloud's TokenIssuer for principals of the simulated
// tenant, so every other simulator can verify them.
import type { SimContext, SimService } from './cloud.js';
import { entraErrors } from './entra/common.js';
import { keys, openidConfiguration } from './entra/discovery.js';
import { managedIdentity } from './entra/managed-identity.js';
import { token } from './entra/token.js';

export function createEntra(ctx: SimContext): { authority: SimService; managedIdentity: SimService } {
  return { authority: authority(ctx), managedIdentity: managedIdentity(ctx) };
}

function authority(ctx: SimContext): SimService {
  return {
    errors: entraErrors(ctx),
    routes: [
      {
        method: 'GET',
        pattern: /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/,
        op: 'entra.openidConfiguration',
        handler: openidConfiguration(ctx),
      },
      { method: 'GET', pattern: /^\/([^/]+)\/discovery\/v2\.0\/keys$/, op: 'entra.keys', handler: keys(ctx) },
      {
        method: 'POST',
        pattern: /^\/([^/]+)\/oauth2\/v2\.0\/token$/,
        op: 'entra.token',
        handler: token(ctx),
      },
    ],
  };
}
