// The first thing every HTTP handler does (contract.md §8 "HTTP callers"): identify the caller and check its app
// roles, before any read or write of Graph, Key Vault or the run table. Refusals are CallerRefused (401 with
// WWW-Authenticate, 403), mapped by errorResponse.
//
// Two factors: the Functions host checks the function key first (authLevel 'function' on every HTTP trigger),
// then this checks the Entra access token. The key alone no longer lets anyone in; the token is what protects the
// endpoints, the key only keeps anonymous traffic off the token check.
import type { HttpRequest } from '@azure/functions';
import type { Role, VerifiedCaller } from '../../auth/callers.js';
import { verifyCaller } from '../../auth/config.js';
import type { Edge } from '../../run.js';
import type { Settings } from '../../settings.js';
import { fail } from '../../util/setting-parsers.js';

/** API_AUDIENCE is required by the HTTP endpoints (the CLI and the timer do without it). */
function requireApiAudience(settings: Pick<Settings, 'apiAudiences'>): void {
  if (!settings.apiAudiences.length)
    fail(
      'API_AUDIENCE',
      undefined,
      'not set, so no HTTP caller can be checked',
      'Set it to the client id (and/or application ID URI, api://…) of the rotator API app registration.',
    );
}

/** The caller of `request`, holding `roles`; throws SettingsError (500) or CallerRefused (401/403/503). */
export async function authorizeHttp(
  request: HttpRequest,
  edge: Edge,
  roles: readonly Role[],
): Promise<VerifiedCaller> {
  const settings = edge.settings({ requireKeyVault: false });
  requireApiAudience(settings);
  return verifyCaller(request, settings, roles, { clock: edge.clock });
}
