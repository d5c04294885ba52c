// How Key Vault admits a request: the challenge (401 + WWW-Authenticate naming the tenant's authority), the bearer
// token for https://vault.azure.net, api-version, then RBAC with the vault's data-plane roles before any lookup.
import type { SimContext, VaultRole } from '../cloud.js';
import { SimHttpError, type SimRequest } from '../http.js';
import type { AccessClaims } from '../tokens.js';
import { badParameter } from './wire.js';

export const VAULT_RESOURCE = 'https://vault.azure.net';

export type Action = 'setSecret' | 'getSecret' | 'readMetadata' | 'update' | 'delete' | 'purge' | 'recover';

/** Data actions and the built-in roles that grant them. */
const ACTIONS: Record<Action, { name: string; roles: VaultRole[] }> = {
  setSecret: {
    name: 'Microsoft.KeyVault/vaults/secrets/setSecret/action',
    roles: ['Key Vault Secrets Officer'],
  },
  getSecret: {
    name: 'Microsoft.KeyVault/vaults/secrets/getSecret/action',
    roles: ['Key Vault Secrets Officer', 'Key Vault Secrets User'],
  },
  readMetadata: {
    name: 'Microsoft.KeyVault/vaults/secrets/readMetadata/action',
    roles: ['Key Vault Secrets Officer', 'Key Vault Secrets User', 'Key Vault Reader'],
  },
  update: { name: 'Microsoft.KeyVault/vaults/secrets/update/action', roles: ['Key Vault Secrets Officer'] },
  delete: { name: 'Microsoft.KeyVault/vaults/secrets/delete', roles: ['Key Vault Secrets Officer'] },
  purge: { name: 'Microsoft.KeyVault/vaults/secrets/purge/action', roles: ['Key Vault Secrets Officer'] },
  recover: { name: 'Microsoft.KeyVault/vaults/secrets/recover/action', roles: ['Key Vault Secrets Officer'] },
};

/** Authentication, api-version and RBAC, in that order (RBAC before any lookup, like the service). */
export async function admit(
  ctx: SimContext,
  req: SimRequest,
  action: Action,
  resource: string,
): Promise<void> {
  const challenge = `Bearer authorization="${ctx.origins.entra}/${ctx.tenant.tenantId}", resource="${VAULT_RESOURCE}"`;
  const www = { 'www-authenticate': challenge };
  if (req.headers.authorization === undefined) {
    throw new SimHttpError(401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.', www);
  }
  let claims: AccessClaims;
  try {
    claims = await ctx.issuer.verify(req, VAULT_RESOURCE, 'Unauthorized', ctx.clock.now());
  } catch (err) {
    if (err instanceof SimHttpError) throw new SimHttpError(401, 'Unauthorized', err.message, www);
    throw err;
  }
  if (claims.tid !== ctx.tenant.tenantId) {
    throw new SimHttpError(
      401,
      'Unauthorized',
      `AKV10032: Invalid issuer. Expected one of https://sts.windows.net/${ctx.tenant.tenantId}/, found ${String(claims.iss)}.`,
      www,
    );
  }
  if (!req.query.get('api-version'))
    throw badParameter('The api-version query parameter is missing or empty.');
  const roles = ctx.vaultRoles.get(claims.oid);
  const { name, roles: allowed } = ACTIONS[action];
  if (!allowed.some((r) => roles?.has(r))) {
    throw new SimHttpError(
      403,
      'Forbidden:ForbiddenByRbac',
      'Caller is not authorized to perform action on resource.\r\n' +
        'If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n' +
        `Caller: appid=${claims.appid};oid=${claims.oid};iss=${String(claims.iss)}\r\n` +
        `Action: '${name}'\r\n` +
        `Resource: '/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-sim/providers/microsoft.keyvault/vaults/kv-sim${resource.toLowerCase()}'\r\n` +
        'Assignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: kv-sim;location=westeurope\r\n',
    );
  }
}
