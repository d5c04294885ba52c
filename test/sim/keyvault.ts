// The simulated Key Vault (secrets only), served at the root like a real vault: the operations
// @azure/keyvault-secrets emits, the challenge-based bearer auth, RBAC with the vault's data-plane roles,
// soft delete, paging with absolute nextLinks, and the service's limits and error bodies. One file per part:
// keyvault/state.ts (the vault's contents), keyvault/auth.ts (challenge, token, RBAC), keyvault/secrets.ts
// (set/get/update/list/delete), keyvault/deleted-secrets.ts (get/list/purge/recover), keyvault/wire.ts (shapes,
// limits, errors, paging).
import type { SimContext, SimService } from './cloud.js';
import * as deleted from './keyvault/deleted-secrets.js';
import * as secrets from './keyvault/secrets.js';
import { kvErrors } from './keyvault/wire.js';

export { VaultState, type SecretVersionView, type SeedVersion } from './keyvault/state.js';

export function createKeyVault(ctx: SimContext): SimService {
  ctx.vault.bindOrigin(() => ctx.origins.keyvault);
  const name = '([^/]+)';
  return {
    errors: kvErrors,
    routes: [
      {
        method: 'GET',
        pattern: /^\/secrets\/?$/,
        op: 'keyvault.listSecrets',
        handler: secrets.listSecrets(ctx),
      },
      {
        method: 'GET',
        pattern: new RegExp(`^/secrets/${name}/versions/?$`),
        op: 'keyvault.listVersions',
        handler: secrets.listVersions(ctx),
      },
      {
        method: 'GET',
        pattern: new RegExp(`^/secrets/${name}(?:/([^/]*))?$`),
        op: 'keyvault.getSecret',
        handler: secrets.getSecret(ctx),
      },
      {
        method: 'PUT',
        pattern: new RegExp(`^/secrets/${name}/?$`),
        op: 'keyvault.setSecret',
        handler: secrets.setSecret(ctx),
      },
      {
        method: 'PATCH',
        pattern: new RegExp(`^/secrets/${name}(?:/([^/]*))?$`),
        op: 'keyvault.updateSecret',
        handler: secrets.updateSecret(ctx),
      },
      {
        method: 'DELETE',
        pattern: new RegExp(`^/secrets/${name}/?$`),
        op: 'keyvault.deleteSecret',
        handler: secrets.deleteSecret(ctx),
      },
      {
        method: 'GET',
        pattern: /^\/deletedsecrets\/?$/,
        op: 'keyvault.listDeletedSecrets',
        handler: deleted.listDeletedSecrets(ctx),
      },
      {
        method: 'GET',
        pattern: new RegExp(`^/deletedsecrets/${name}/?$`),
        op: 'keyvault.getDeletedSecret',
        handler: deleted.getDeletedSecret(ctx),
      },
      {
        method: 'DELETE',
        pattern: new RegExp(`^/deletedsecrets/${name}/?$`),
        op: 'keyvault.purgeDeletedSecret',
        handler: deleted.purgeDeletedSecret(ctx),
      },
      {
        method: 'POST',
        pattern: new RegExp(`^/deletedsecrets/${name}/recover/?$`),
        op: 'keyvault.recoverDeletedSecret',
        handler: deleted.recoverDeletedSecret(ctx),
      },
    ],
  };
}
