// The rotator's own identity (managed identity in Azure, a service principal from AZURE_CLIENT_* on-premises,
// `az login` on a workstation: DefaultAzureCredential picks), and the proof that a new client secret works.
import { ClientSecretCredential, DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { isMicrosoftAuthority, type Settings } from '../settings.js';
import { describeError } from '../errors.js';

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
 */
export async function whoAmI(credential: TokenCredential, settings: Settings): Promise<Identity> {
  const token = await credential.getToken(graphScope(settings));
  if (!token) throw new Error('The rotator identity returned no token for Microsoft Graph.');
  const claims = decodeJwtPayload(token.token);
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

export function decodeJwtPayload(token: string): Record<string, unknown> | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export interface ProofResult {
  ok: boolean;
  attempts: number;
  elapsedMs: number;
  /** Why it never worked (last error, one line, no secret). */
  reason?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Proves a new secret by acquiring a token as the app (client credentials), waiting out Entra replication
 * (seconds, sometimes minutes: AADSTS7000215 until then) up to the deadline.
 */
export async function proveSecret(
  settings: Settings,
  tenantId: string,
  appId: string,
  secretText: string,
  timeoutMs: number,
): Promise<ProofResult> {
  const started = Date.now();
  let attempts = 0;
  let delay = 500;
  let reason = 'not tried';
  for (;;) {
    attempts++;
    // A fresh credential each attempt: no cached failure, and no token cache shared with other apps.
    const credential = new ClientSecretCredential(tenantId, appId, secretText, {
      authorityHost: settings.authorityHost,
      disableInstanceDiscovery: !isMicrosoftAuthority(settings.authorityHost),
      retryOptions: { maxRetries: 1 },
    });
    try {
      const token = await credential.getToken(graphScope(settings));
      if (token) return { ok: true, attempts, elapsedMs: Date.now() - started };
      reason = 'no token returned';
    } catch (err) {
      reason = describeError(err, [secretText]);
    }
    const left = started + timeoutMs - Date.now();
    if (left <= 0) return { ok: false, attempts, elapsedMs: Date.now() - started, reason };
    await sleep(Math.min(delay, left));
    delay = Math.min(delay * 2, 10_000);
  }
}
