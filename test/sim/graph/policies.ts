// GET /policies/defaultAppManagementPolicy: the tenant's password-lifetime restriction (addPassword enforces it,
// see applications.ts). Policy.Read.All or Policy.ReadWrite.ApplicationConfiguration reads it.
import { POLICY_READ, requireAny } from './auth.js';
import { context, ok } from './odata.js';
import type { GraphHandler } from './state.js';

/** The tenant default app-management policy always has this id. */
export const DEFAULT_POLICY_ID = '00000000-0000-0000-0000-000000000000';

export const getAppManagementPolicy: GraphHandler = (g, call) => {
  requireAny(call, POLICY_READ);
  const maxDays = g.tenant.passwordLifetimeMaxDays;
  return ok({
    '@odata.context': context(g, 'policies/defaultAppManagementPolicy/$entity'),
    id: DEFAULT_POLICY_ID,
    displayName: 'Default app management tenant policy',
    description:
      'Default tenant policy that enforces app management restrictions on applications and service principals.',
    isEnabled: maxDays !== undefined,
    applicationRestrictions: {
      passwordCredentials:
        maxDays === undefined
          ? []
          : [
              {
                restrictionType: 'passwordLifetime',
                state: 'enabled',
                maxLifetime: `P${maxDays}D`,
                restrictForAppsCreatedAfterDateTime: '2015-01-01T10:37:00Z',
              },
            ],
      keyCredentials: [],
    },
    servicePrincipalRestrictions: { passwordCredentials: [], keyCredentials: [] },
  });
};
