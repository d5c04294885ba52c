// The caller check's settings, from the product's settings: AZURE_AUTHORITY_HOST, API_AUDIENCE, and the tenant
// GUID (AZURE_TENANT_ID when it is a GUID; otherwise the tenant of the rotator's own token, as contract §1 says).
import type { TokenCredential } from '@azure/identity';
import { createCredential, whoAmI } from '../azure/identity.js';
import type { Settings } from '../settings.js';
import type { Clock } from '../util/clock.js';
import {
  requireCaller,
  requireVerified,
  type Caller,
  type CallerAuthConfig,
  type Role,
  type VerifiedCaller,
} from './callers.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type CallerAuthSettings = Pick<Settings, 'authorityHost' | 'tenantId' | 'graphEndpoint'> & {
  apiAudiences?: string[];
};

// A domain name in AZURE_TENANT_ID (or none) is resolved once per process: the issuer names the GUID.
let resolvedTenant: Promise<string> | undefined;

export async function callerAuthConfig(
  settings: CallerAuthSettings,
  clock?: Clock,
  credential?: TokenCredential,
): Promise<CallerAuthConfig> {
  const tenantId =
    settings.tenantId && GUID.test(settings.tenantId)
      ? settings.tenantId
      : await ownTenant(settings, credential);
  return {
    authorityHost: settings.authorityHost,
    tenantId,
    audiences: settings.apiAudiences ?? [],
    ...(clock ? { clock } : {}),
  };
}

function ownTenant(settings: CallerAuthSettings, credential?: TokenCredential): Promise<string> {
  resolvedTenant ??= (async () => {
    const s = { ...settings, tenantId: undefined } as Settings;
    return (await whoAmI(credential ?? createCredential(s), s)).tenantId;
  })().catch((err: unknown) => {
    resolvedTenant = undefined; // try again on the next call
    throw err;
  });
  return resolvedTenant;
}

/**
 * The one line a handler needs: the caller of `request` holding `roles`, or a thrown CallerRefused (401/403/500/503,
 * map it like an HttpError). `request` is anything with headers.get (an Azure Functions HttpRequest, a fetch Request).
 */
export async function checkCaller(
  request: { headers: { get(name: string): string | null } },
  settings: CallerAuthSettings,
  roles: readonly Role[],
  opts: { clock?: Clock; credential?: TokenCredential } = {},
): Promise<Caller> {
  const config = await callerAuthConfig(settings, opts.clock, opts.credential);
  return requireCaller(request.headers.get('authorization'), config, roles);
}

/** checkCaller with the token's roles (see requireVerified). */
export async function verifyCaller(
  request: { headers: { get(name: string): string | null } },
  settings: CallerAuthSettings,
  roles: readonly Role[],
  opts: { clock?: Clock; credential?: TokenCredential } = {},
): Promise<VerifiedCaller> {
  const config = await callerAuthConfig(settings, opts.clock, opts.credential);
  return requireVerified(request.headers.get('authorization'), config, roles);
}
