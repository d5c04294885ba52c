// Every setting of the operator contract (contract.md §1), parsed and validated in one place.
// A bad setting stops the run before any change, with one line naming the setting, what was wrong and what
// is accepted.

import { isEmailAddress } from './notify/digest.js';

export { isEmailAddress };

export type RotationScope = 'owned' | 'tagged';

export interface Settings {
  keyVaultUrl?: string;
  graphEndpoint: string;
  authorityHost: string;
  tenantId?: string;
  scope: RotationScope;
  tag?: string;
  renewBeforeDays: number;
  secretLifetimeDays: number;
  retireAfterDays: number;
  verifyTimeoutSeconds: number;
  acsEndpoint?: string;
  acsConnectionString?: string;
  emailSender?: string;
  notifyAlso: string[];
  remindUnmanaged: boolean;
  schedule: string;
  /** AzureWebJobsStorage as a connection string, or the account's blob/queue/table URIs for identity-based access. */
  storage?: StorageSettings;
  keyVaultDisableChallengeVerification: boolean;
  /** Apps rotated at the same time (not in the contract; tuning). */
  concurrency: number;
  /** How long to wait for an app's lock held by another run before reporting it skipped. */
  lockWaitSeconds: number;
}

export type StorageSettings =
  | { kind: 'connectionString'; connectionString: string }
  | {
      kind: 'identity';
      blobServiceUri: string;
      queueServiceUri: string;
      tableServiceUri: string;
      clientId?: string;
    };

export class SettingsError extends Error {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(message);
    this.name = 'SettingsError';
  }
}

export const BOUNDS = {
  renewBeforeDays: { min: 1, max: 365 },
  secretLifetimeDays: { min: 1, max: 730 },
  retireAfterDays: { min: 1, max: 365 },
  verifyTimeoutSeconds: { min: 1, max: 3600 },
} as const;

export const DEFAULT_SCHEDULE = '0 0 3 * * *';

type Env = Record<string, string | undefined>;

/** Values that are empty or only whitespace count as unset (Function App settings are often left empty). */
function read(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function fail(name: string, value: string | undefined, problem: string, accepted: string): never {
  const shown =
    value === undefined ? '' : ` ${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)}`;
  throw new SettingsError(name, `Setting ${name}${shown} is invalid: ${problem}. ${accepted}`);
}

export function parseWholeNumber(value: string): number | undefined {
  return /^[0-9]{1,9}$/.test(value) ? Number(value) : undefined;
}

function integerSetting(
  env: Env,
  name: string,
  fallback: number,
  bounds: { min: number; max: number },
  unit: string,
): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  const n = parseWholeNumber(raw);
  const accepted = `Use a whole number of ${unit} from ${bounds.min} to ${bounds.max}.`;
  if (n === undefined) fail(name, raw, 'not a whole number', accepted);
  if (n < bounds.min || n > bounds.max) fail(name, raw, 'out of range', accepted);
  return n;
}

function httpsUrl(env: Env, name: string, fallback?: string, allowPath = false): string | undefined {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail(name, raw, 'not a URL', 'Use an https:// URL, e.g. https://kv-rotator.vault.azure.net.');
  }
  if (url.protocol !== 'https:')
    fail(name, raw, 'not https', 'Azure SDKs send tokens only over https: use an https:// URL.');
  if (url.search || url.hash) fail(name, raw, 'has a query or fragment', 'Use the bare https:// root URL.');
  if (!allowPath && url.pathname !== '/')
    fail(name, raw, 'has a path', 'Use the root URL only, e.g. https://host.');
  return `${url.origin}${allowPath ? url.pathname.replace(/\/+$/, '') : ''}`;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  const v = raw.toLowerCase();
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  return fail(name, raw, 'not a boolean', 'Use true or false.');
}

/** NCRONTAB with six fields ({second} {minute} {hour} {day} {month} {day-of-week}) or a TimeSpan such as 01:00:00. */
function schedule(env: Env): string {
  const raw = read(env, 'ROTATION_SCHEDULE');
  if (raw === undefined) return DEFAULT_SCHEDULE;
  const fields = raw.split(/\s+/);
  const field = /^[0-9A-Za-z*/,-]+$/;
  if ((fields.length === 6 && fields.every((f) => field.test(f))) || /^\d{1,2}:\d{2}:\d{2}$/.test(raw))
    return raw;
  return fail(
    'ROTATION_SCHEDULE',
    raw,
    'not a six-field NCRONTAB expression',
    'Use {second} {minute} {hour} {day} {month} {day-of-week}, e.g. "0 0 3 * * *" for 03:00 UTC daily.',
  );
}

function storage(env: Env): StorageSettings | undefined {
  const conn = read(env, 'AzureWebJobsStorage');
  if (conn !== undefined) {
    if (
      conn === 'UseDevelopmentStorage=true' ||
      /AccountName=|BlobEndpoint=|SharedAccessSignature=/i.test(conn)
    ) {
      return { kind: 'connectionString', connectionString: conn };
    }
    return fail(
      'AzureWebJobsStorage',
      undefined,
      'not a storage connection string',
      'Use a connection string (AccountName=…;AccountKey=… or UseDevelopmentStorage=true), or identity-based settings AzureWebJobsStorage__accountName.',
    );
  }
  const account = read(env, 'AzureWebJobsStorage__accountName');
  const blob = read(env, 'AzureWebJobsStorage__blobServiceUri');
  if (account === undefined && blob === undefined) return undefined;
  const base = (svc: string) => {
    const explicit = read(env, `AzureWebJobsStorage__${svc}ServiceUri`);
    if (explicit) return explicit.replace(/\/+$/, '');
    if (!account) {
      return fail(
        `AzureWebJobsStorage__${svc}ServiceUri`,
        undefined,
        'missing',
        'Set AzureWebJobsStorage__accountName, or all of the blob, queue and table service URIs.',
      );
    }
    if (!/^[a-z0-9]{3,24}$/.test(account)) {
      fail(
        'AzureWebJobsStorage__accountName',
        account,
        'not a storage account name',
        'Use 3-24 lowercase letters and digits.',
      );
    }
    return `https://${account}.${svc}.core.windows.net`;
  };
  return {
    kind: 'identity',
    blobServiceUri: base('blob'),
    queueServiceUri: base('queue'),
    tableServiceUri: base('table'),
    clientId: read(env, 'AzureWebJobsStorage__clientId'),
  };
}

export interface LoadOptions {
  /** `rotate` needs a vault; `scan` reads it when set. */
  requireKeyVault: boolean;
}

export function loadSettings(env: Env, opts: LoadOptions): Settings {
  const keyVaultUrl = httpsUrl(env, 'KEY_VAULT_URL');
  if (opts.requireKeyVault && !keyVaultUrl) {
    fail(
      'KEY_VAULT_URL',
      undefined,
      'missing',
      'Set it to the vault that receives new secrets, e.g. https://kv-rotator.vault.azure.net.',
    );
  }
  const graphEndpoint = httpsUrl(env, 'GRAPH_ENDPOINT', 'https://graph.microsoft.com', true)!;
  if (/\/v1\.0$|\/beta$/.test(graphEndpoint)) {
    fail(
      'GRAPH_ENDPOINT',
      graphEndpoint,
      'includes the API version',
      'Use the Graph root without version, e.g. https://graph.microsoft.com.',
    );
  }
  const authorityHost = httpsUrl(env, 'AZURE_AUTHORITY_HOST', 'https://login.microsoftonline.com', true)!;

  const tenantId = read(env, 'AZURE_TENANT_ID');
  if (
    tenantId !== undefined &&
    !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(tenantId) &&
    !/^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/.test(tenantId)
  ) {
    fail('AZURE_TENANT_ID', tenantId, 'not a tenant id', 'Use the tenant GUID or its verified domain name.');
  }

  const scopeRaw = read(env, 'ROTATION_SCOPE') ?? 'owned';
  if (scopeRaw !== 'owned' && scopeRaw !== 'tagged') {
    fail(
      'ROTATION_SCOPE',
      scopeRaw,
      'unknown scope',
      'Use owned (apps the rotator owns) or tagged (apps carrying ROTATION_TAG).',
    );
  }
  const tag = read(env, 'ROTATION_TAG');
  if (scopeRaw === 'tagged' && tag === undefined) {
    fail(
      'ROTATION_TAG',
      undefined,
      'missing while ROTATION_SCOPE is tagged',
      'Set the tag value that marks apps to rotate, e.g. rotate-secrets.',
    );
  }
  if (tag !== undefined && (tag.length > 256 || tag.includes("'"))) {
    fail(
      'ROTATION_TAG',
      tag,
      'not usable as a Graph tag filter',
      "Use at most 256 characters and no single quote (').",
    );
  }

  const renewBeforeDays = integerSetting(env, 'RENEW_BEFORE_DAYS', 30, BOUNDS.renewBeforeDays, 'days');
  const secretLifetimeDays = integerSetting(
    env,
    'SECRET_LIFETIME_DAYS',
    180,
    BOUNDS.secretLifetimeDays,
    'days',
  );
  if (secretLifetimeDays <= renewBeforeDays) {
    fail(
      'SECRET_LIFETIME_DAYS',
      String(secretLifetimeDays),
      `not greater than RENEW_BEFORE_DAYS (${renewBeforeDays}), so every new secret would be due at once`,
      `Use a lifetime from ${renewBeforeDays + 1} to ${BOUNDS.secretLifetimeDays.max} days, or lower RENEW_BEFORE_DAYS.`,
    );
  }
  const retireAfterDays = integerSetting(env, 'RETIRE_AFTER_DAYS', 7, BOUNDS.retireAfterDays, 'days');
  const verifyTimeoutSeconds = integerSetting(
    env,
    'VERIFY_TIMEOUT_SECONDS',
    300,
    BOUNDS.verifyTimeoutSeconds,
    'seconds',
  );

  const acsEndpoint = httpsUrl(env, 'ACS_ENDPOINT');
  const acsConnectionString = read(env, 'ACS_CONNECTION_STRING');
  if (
    acsConnectionString !== undefined &&
    !/^endpoint=https:\/\/[^;]+;accesskey=[^;]+;?$/i.test(acsConnectionString)
  ) {
    fail(
      'ACS_CONNECTION_STRING',
      undefined,
      'not an ACS connection string',
      'Use endpoint=https://<name>.communication.azure.com/;accesskey=<key> as shown in the portal, or use ACS_ENDPOINT with the rotator identity.',
    );
  }
  const emailSender = read(env, 'EMAIL_SENDER');
  if (emailSender !== undefined && !isEmailAddress(emailSender)) {
    fail(
      'EMAIL_SENDER',
      emailSender,
      'not an email address',
      'Use the MailFrom address of your ACS domain, e.g. DoNotReply@<domain>.azurecomm.net.',
    );
  }
  if ((acsEndpoint || acsConnectionString) && !emailSender) {
    fail(
      'EMAIL_SENDER',
      undefined,
      'missing while ACS is configured',
      'Set the sender address, e.g. DoNotReply@<domain>.azurecomm.net.',
    );
  }
  const notifyAlso = (read(env, 'NOTIFY_ALSO') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const a of notifyAlso) {
    if (!isEmailAddress(a))
      fail(
        'NOTIFY_ALSO',
        a,
        'contains something that is not an email address',
        'Use comma-separated addresses, e.g. secops@contoso.com,iam@contoso.com.',
      );
  }

  const concurrency = integerSetting(env, 'ROTATION_CONCURRENCY', 16, { min: 1, max: 256 }, 'apps');
  const lockWaitSeconds = integerSetting(env, 'LOCK_WAIT_SECONDS', 30, { min: 0, max: 600 }, 'seconds');

  return {
    keyVaultUrl,
    graphEndpoint,
    authorityHost,
    tenantId,
    scope: scopeRaw,
    tag,
    renewBeforeDays,
    secretLifetimeDays,
    retireAfterDays,
    verifyTimeoutSeconds,
    acsEndpoint,
    acsConnectionString,
    emailSender,
    notifyAlso,
    remindUnmanaged: bool(env, 'REMIND_UNMANAGED', false),
    schedule: schedule(env),
    storage: storage(env),
    keyVaultDisableChallengeVerification: bool(env, 'KEY_VAULT_DISABLE_CHALLENGE_VERIFICATION', false),
    concurrency,
    lockWaitSeconds,
  };
}

/** Authority hosts of Microsoft's clouds; any other host (a proxy, the simulator) gets instance discovery off. */
const MICROSOFT_AUTHORITY_HOSTS = [
  'login.microsoftonline.com',
  'login.microsoftonline.us',
  'login.chinacloudapi.cn',
  'login.microsoftonline.de',
  'login.windows.net',
  'login.partner.microsoftonline.cn',
];

export function isMicrosoftAuthority(authorityHost: string): boolean {
  return MICROSOFT_AUTHORITY_HOSTS.includes(new URL(authorityHost).hostname.toLowerCase());
}
