// The rotator's own identity (managed identity in Azure, a service principal from AZURE_CLIENT_* on-premises,
// `az login` on a workstation: DefaultAzureCredential picks), and the proof that a new client secret works.
import {
  ClientSecretCredential,
  DefaultAzureCredential,
  type ClientSecretCredentialOptions,
  type TokenCredential,
} from '@azure/identity';
import { sharedHttpClient } from './http-client.js';
import { decodeJwt, type JWTPayload } from 'jose';
import { isMicrosoftAuthority, type Settings } from '../settings.js';
import { describeError, errorInfo } from '../errors.js';
import { systemClock, type Clock } from '../util/clock.js';
import { exponentialBackoff, withRetry } from '../util/retry.js';

export function createCredential(settings: Settings): TokenCredential {
  return new DefaultAzureCredential({
    authorityHost: settings.authorityHost,
    // Instance discovery calls a Microsoft host; behind any other authority it would hang or fail.
    disableInstanceDiscovery: !isMicrosoftAuthority(settings.authorityHost),
  });
}

/** Graph tokens are requested for the Graph origin, so national clouds and proxies work (contract §7). */
export function graphScope(settings: Settings): string {
  return `${new URL(settings.graphEndpoint).origin}/.default`;
}

export interface Identity {
  tenantId: string;
  /** Object id of the rotator's service principal: the owner that `owned` scope looks for. */
  objectId: string;
  appId?: string;
}

/**
 * Who the rotator is, read from its own Graph token. App-only tokens carry tid/oid; there is no /me for an
 * application, and asking the operator for the service principal's id would be one more setting to get wrong.
 * The token is only read here, not verified: it came from the authority over TLS to be sent to Graph.
 */
export async function whoAmI(credential: TokenCredential, settings: Settings): Promise<Identity> {
  const token = await credential.getToken(graphScope(settings));
  if (!token) throw new Error('The rotator identity returned no token for Microsoft Graph.');
  const claims = readClaims(token.token);
  const tenantId = settings.tenantId ?? str(claims?.tid);
  const objectId = str(claims?.oid);
  if (!tenantId || !objectId) {
    throw new Error(
      'Could not read the tenant and object id of the rotator from its Graph token; set AZURE_TENANT_ID, and make sure ' +
        'the rotator signs in as an application (managed identity or service principal).',
    );
  }
  return { tenantId, objectId, appId: str(claims?.appid) ?? str(claims?.azp) };
}

const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);

function readClaims(token: string): JWTPayload | undefined {
  try {
    return decodeJwt(token);
  } catch {
    return undefined;
  }
}

type PipelinePolicy = NonNullable<ClientSecretCredentialOptions['additionalPolicies']>[number]['policy'];
type PipelineResponse = Awaited<ReturnType<PipelinePolicy['sendRequest']>>;

/** The OpenID configuration documents this process has read, by URL (only answers of 200). */
const openIdConfigurations = new Map<string, PipelineResponse>();

/**
 * MSAL reads the authority's OpenID configuration once per client object, and a proof makes a new one per attempt:
 * one extra request per proof. For Microsoft's clouds MSAL uses built-in metadata and never asks; for any other
 * authority (a proxy, the simulator) this policy answers repeated reads of the same document from the first 200,
 * as one long-lived MSAL client would. The token request itself always goes to the token endpoint.
 */
const reuseOpenIdConfiguration: PipelinePolicy = {
  name: 'rotatorReuseOpenIdConfiguration',
  async sendRequest(request, next) {
    const cacheable =
      request.method === 'GET' && new URL(request.url).pathname.endsWith('/.well-known/openid-configuration');
    const known = cacheable ? openIdConfigurations.get(request.url) : undefined;
    if (known) return { ...known, request };
    const response = await next(request);
    if (cacheable && response.status === 200 && response.bodyAsText)
      openIdConfigurations.set(request.url, response);
    return response;
  },
};

export interface ProofResult {
  ok: boolean;
  attempts: number;
  elapsedMs: number;
  /** Why it never worked (last error, one line, no secret). */
  reason?: string;
  /** The AADSTS code of the sign-in error that decided the result, when there was one. */
  code?: string;
  /** ok, but worth saying (AADSTS53003: Conditional Access blocked the token after the secret was accepted). */
  note?: string;
}

export interface ProofOptions {
  /** Stop waiting for replication at this time: VERIFY_TIMEOUT_SECONDS, or less (an HTTP run's remaining budget). */
  deadline: Date;
  clock?: Clock;
}

/** The only sign-in errors that waiting can cure: the secret or the app has not replicated yet (contract §8). */
const REPLICATION_SIGNALS = new Set(['AADSTS7000215', 'AADSTS700016']);
/** Conditional Access blocked the token, which Entra decides only after it accepted the client secret. */
const CONDITIONAL_ACCESS_BLOCK = 'AADSTS53003';

const aadstsCode = (err: unknown) => /^AADSTS\d+$/.exec(errorInfo(err).code ?? '')?.[0];

/**
 * Proves a new secret by acquiring a token as the app (client credentials), waiting out Entra replication
 * (seconds, sometimes minutes: AADSTS7000215 / AADSTS700016 until then) up to the deadline. Any other sign-in
 * error stops at once with its AADSTS code (e.g. AADSTS7000229: no service principal); an error without a code
 * (the authority unreachable, a server error) is tried again until the deadline. `options` as a number is the old
 * form: a timeout in milliseconds from now.
 */
export async function proveSecret(
  settings: Settings,
  tenantId: string,
  appId: string,
  secretText: string,
  options: number | ProofOptions,
): Promise<ProofResult> {
  const clock = (typeof options === 'number' ? undefined : options.clock) ?? systemClock;
  const started = clock.now().getTime();
  const deadline = typeof options === 'number' ? new Date(started + options) : options.deadline;
  const elapsed = () => clock.now().getTime() - started;
  let attempts = 0;
  try {
    await withRetry(
      async () => {
        attempts++;
        // A fresh credential each attempt: no cached failure, and no token cache shared with other apps.
        const credential = new ClientSecretCredential(tenantId, appId, secretText, {
          authorityHost: settings.authorityHost,
          disableInstanceDiscovery: !isMicrosoftAuthority(settings.authorityHost),
          retryOptions: { maxRetries: 1 },
          // One pool of connections for every proof (a credential per attempt would open its own).
          httpClient: sharedHttpClient(),
          additionalPolicies: [{ policy: reuseOpenIdConfiguration, position: 'perCall' }],
        });
        if (!(await credential.getToken(graphScope(settings)))) throw new Error('no token returned');
      },
      {
        attempts: Infinity,
        deadline,
        clock,
        retryable: (err) => {
          const code = aadstsCode(err);
          return code === undefined || REPLICATION_SIGNALS.has(code);
        },
        backoffMs: exponentialBackoff(500, 10_000, false),
        waitMs: () => undefined,
      },
    );
    return { ok: true, attempts, elapsedMs: elapsed() };
  } catch (err) {
    const code = aadstsCode(err);
    if (code === CONDITIONAL_ACCESS_BLOCK) {
      const note =
        'Conditional Access blocked the token (AADSTS53003), which Entra decides only after accepting the secret: counted as proof';
      return { ok: true, attempts, elapsedMs: elapsed(), code, note };
    }
    const reason = describeError(err, [secretText]);
    return { ok: false, attempts, elapsedMs: elapsed(), reason, code };
  }
}
