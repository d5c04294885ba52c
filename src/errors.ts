// Errors reduced to one line an operator can act on, with any secret the caller holds redacted.
// SDK errors can carry whole requests (Key Vault's RestError keeps the request, whose body is the secret):
// only status, code and the service's message are ever read from them.

export interface ServiceErrorInfo {
  status?: number;
  code?: string;
  message: string;
}

export function errorInfo(err: unknown): ServiceErrorInfo {
  if (typeof err !== 'object' || err === null) return { message: String(err) };
  const e = err as Record<string, unknown>;
  const raw =
    typeof e.statusCode === 'number' ? e.statusCode : typeof e.status === 'number' ? e.status : undefined;
  // The Graph client reports a lost connection as statusCode -1: no HTTP status, so the outcome is unknown.
  const status = raw !== undefined && raw > 0 ? raw : undefined;
  let code = typeof e.code === 'string' ? e.code : undefined;
  let message = typeof e.message === 'string' ? e.message : String(err);
  // @azure/identity: AuthenticationError keeps Entra's error body.
  const body = e.errorResponse as { error?: string; errorDescription?: string } | undefined;
  if (body?.errorDescription) {
    message = body.errorDescription;
    code ??= body.error;
  }
  const aadsts = /AADSTS\d+/.exec(message)?.[0];
  if (aadsts) code = aadsts;
  return { status, code, message };
}

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('[redacted]');
  return out;
}

const NO_IDENTITY =
  'no identity to sign in with: run where a managed identity is assigned, set AZURE_CLIENT_ID, AZURE_TENANT_ID and ' +
  'AZURE_CLIENT_SECRET for a service principal, or sign in with `az login`';

/** One line: "<status> <code>: <message>" trimmed to what an operator needs. */
export function describeError(err: unknown, secrets: readonly string[] = []): string {
  const { status, code, message } = errorInfo(err);
  // DefaultAzureCredential lists every credential it tried, over many lines; the operator needs the conclusion.
  if (
    /ChainedTokenCredential authentication failed|CredentialUnavailableError/.test(message) &&
    !/AADSTS/.test(message)
  ) {
    return `${NO_IDENTITY} (${message.split(/\r?\n/)[0]!.slice(0, 200)})`;
  }
  const firstLines = message
    .replace(/\s*Trace ID:.*$/s, '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(0, 2)
    .join(' ');
  const prefix = [status, code && !firstLines.startsWith(code) ? code : undefined].filter(Boolean).join(' ');
  const line = prefix ? `${prefix}: ${firstLines}` : firstLines;
  const clipped = line.length > 400 ? `${line.slice(0, 400)}…` : line;
  return redact(clipped, secrets);
}
