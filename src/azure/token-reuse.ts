// The Graph SDK's auth provider asks the credential for a token on every request, and DefaultAzureCredential answers
// a cached token only after walking its chain (each unavailable credential throws an error, with a stack trace) and
// MSAL's cache: about 0.3-0.5 ms of CPU per Graph request. This keeps the last token per scope set and answers it
// until shortly before it expires, as the Azure SDKs' own bearer policies do (they refresh 2 minutes ahead).
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';

/** A token is renewed this long before it expires (MSAL refreshes 5 minutes ahead of expiry too). */
const RENEW_BEFORE_MS = 5 * 60_000;

/**
 * `credential`, answering repeated requests for the same scopes from its last token while that token has more than
 * 5 minutes left (or until its refreshAfter). Requests with claims (a CAE challenge), a tenant or a proof-of-
 * possession option always go to the credential. Concurrent requests share one pending call.
 */
export function reuseTokens(credential: TokenCredential, now: () => number = Date.now): TokenCredential {
  const cached = new Map<string, AccessToken>();
  const pending = new Map<string, Promise<AccessToken | null>>();
  const fresh = (t: AccessToken | undefined): t is AccessToken =>
    !!t &&
    now() < t.expiresOnTimestamp - RENEW_BEFORE_MS &&
    (t.refreshAfterTimestamp === undefined || now() < t.refreshAfterTimestamp);
  return {
    getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      if (options?.claims || options?.tenantId || options?.proofOfPossessionOptions)
        return credential.getToken(scopes, options);
      const key = Array.isArray(scopes) ? scopes.join(' ') : scopes;
      const hit = cached.get(key);
      if (fresh(hit)) return Promise.resolve(hit);
      // A call that may be aborted is not shared: its abort must not fail the others.
      const inFlight = options?.abortSignal ? undefined : pending.get(key);
      if (inFlight) return inFlight;
      const call = credential
        .getToken(scopes, options)
        .then((token) => {
          if (token) cached.set(key, token);
          return token;
        })
        .finally(() => pending.get(key) === call && pending.delete(key));
      if (!options?.abortSignal) pending.set(key, call);
      return call;
    },
  };
}
