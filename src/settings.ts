// Every setting the product reads (contract §1, §8, and the tuning ones), parsed and validated in one place.
// A bad setting stops the run before any change, with one line naming the setting, what was wrong and what
// is accepted. Imports nothing above the small utilities: everything else depends on this, not the reverse.

import { CronExpressionParser } from 'cron-parser';
import { cleanText } from './text.js';
import { isKnownAzureHost, knownHostsText, type EndpointKind } from './util/clouds.js';
import { isDomainName, isEmailAddress } from './util/email.js';
import { isGuid } from './util/ids.js';
import {
  bool,
  fail,
  httpsUrl,
  integerSetting,
  list,
  parseWholeNumber,
  read,
  SettingsError,
  type Env,
} from './util/setting-parsers.js';
import { storageSetting, type StorageSettings } from './util/storage-setting.js';

export { isEmailAddress, parseWholeNumber, SettingsError, type StorageSettings };

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
  /** AzureWebJobsStorage as a connection string, or the account's blob/queue/table URIs for identity-based access. */
  storage?: StorageSettings;
  keyVaultDisableChallengeVerification: boolean;
  /** Apps rotated at the same time (not in the contract; tuning). */
  concurrency: number;
  /** How long to wait for an app's lock held by another run before reporting it skipped. */
  lockWaitSeconds: number;
  /** ROTATION_INLINE_MAX: the timer rotates at most this many due apps itself; more are fanned out to the queue. */
  inlineMax: number;
  /** HTTP_TIME_BUDGET_SECONDS: POST /api/rotate stops starting rotations after this long (HTTP answers within 230 s). */
  httpTimeBudgetSeconds: number;
  /**
   * NOTIFY_ALLOWED_DOMAINS (§8), lowercased; `['*']` allows any domain. Undefined when unset: the default (the
   * domains of NOTIFY_ALSO and of each app's owners) is computed where the recipients are known.
   */
  notifyAllowedDomains?: string[];
  /** FORCE_MIN_INTERVAL_MINUTES: a forced rotation of an app rotated less than this long ago is refused. */
  forceMinIntervalMinutes: number;
  /**
   * GRAPH_WRITE_BUDGET writes per GRAPH_WRITE_WINDOW_SECONDS: Graph's write budget of the rotator's identity in its
   * tenant (documented: 3,000 per 150 s), which the queue workers share through a ledger in AzureWebJobsStorage
   * (src/azure/write-ledger.ts). 0: no shared ledger (each worker learns its share from its own 429s).
   */
  graphWriteBudget: number;
  graphWriteWindowSeconds: number;
  /** API_AUDIENCE: accepted audiences of HTTP callers' tokens (the rotator's own API); [] when unset. */
  apiAudiences: string[];
  /** ALLOW_CUSTOM_ENDPOINTS: endpoints outside the known Azure clouds (proxies, the simulated cloud) are allowed. */
  allowCustomEndpoints: boolean;
  /** Settings that are accepted but weaken a protection: the run logs each line. */
  warnings: string[];
}

export const BOUNDS = {
  renewBeforeDays: { min: 1, max: 365 },
  secretLifetimeDays: { min: 1, max: 730 },
  retireAfterDays: { min: 1, max: 365 },
  verifyTimeoutSeconds: { min: 1, max: 3600 },
} as const;

/**
 * ROTATION_SCHEDULE is read by the Functions host (the timer's %ROTATION_SCHEDULE%), not by the code: it is only
 * validated here, so a bad schedule stops the CLI and every function with one line instead of a timer that never
 * fires. NCRONTAB has six fields ({second} {minute} {hour} {day} {month} {day-of-week}); cron-parser checks each
 * value's range, and tokens cron-parser knows but NCRONTAB does not (L, W, #, ?) are refused.
 */
function validateSchedule(env: Env): void {
  const raw = read(env, 'ROTATION_SCHEDULE');
  if (raw === undefined) return;
  const accepted =
    'Use {second} {minute} {hour} {day} {month} {day-of-week}, e.g. "0 0 3 * * *" for 03:00 UTC daily.';
  // A TimeSpan (hh:mm:ss) is what the host also takes on App Service plans.
  if (/^([01]?\d|2[0-3]):[0-5]\d:[0-5]\d$/.test(raw)) return;
  const fields = raw.split(/\s+/);
  if (fields.length !== 6) fail('ROTATION_SCHEDULE', raw, `${fields.length} fields instead of six`, accepted);
  const token = /^(\*|\d{1,2}|[A-Za-z]{3})$/;
  if (!fields.every((f) => f.split(/[,/-]/).every((t) => token.test(t))))
    fail('ROTATION_SCHEDULE', raw, 'not an NCRONTAB expression', accepted);
  try {
    CronExpressionParser.parse(raw, { tz: 'UTC' });
  } catch (err) {
    fail('ROTATION_SCHEDULE', raw, cleanText((err as Error).message, 120), accepted);
  }
}

export interface LoadOptions {
  /** `rotate` needs a vault; `scan` reads it when set. */
  requireKeyVault: boolean;
}

type Endpoints = Pick<Settings, 'keyVaultUrl' | 'graphEndpoint' | 'authorityHost' | 'tenantId'>;

function endpoints(env: Env, opts: LoadOptions): Endpoints {
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
  if (tenantId !== undefined && !isGuid(tenantId) && !/^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/.test(tenantId)) {
    fail('AZURE_TENANT_ID', tenantId, 'not a tenant id', 'Use the tenant GUID or its verified domain name.');
  }
  return { keyVaultUrl, graphEndpoint, authorityHost, tenantId };
}

function scope(env: Env): Pick<Settings, 'scope' | 'tag'> {
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
  return { scope: scopeRaw, tag };
}

type Lifetimes = Pick<
  Settings,
  'renewBeforeDays' | 'secretLifetimeDays' | 'retireAfterDays' | 'verifyTimeoutSeconds'
>;

function lifetimes(env: Env): Lifetimes {
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
  return { renewBeforeDays, secretLifetimeDays, retireAfterDays, verifyTimeoutSeconds };
}

type Mail = Pick<
  Settings,
  'acsEndpoint' | 'acsConnectionString' | 'emailSender' | 'notifyAlso' | 'notifyAllowedDomains'
>;

function mail(env: Env): Mail {
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
  const notifyAlso = list(env, 'NOTIFY_ALSO');
  for (const a of notifyAlso) {
    if (!isEmailAddress(a))
      fail(
        'NOTIFY_ALSO',
        a,
        'contains something that is not an email address',
        'Use comma-separated addresses, e.g. secops@contoso.com,iam@contoso.com.',
      );
  }
  return {
    acsEndpoint,
    acsConnectionString,
    emailSender,
    notifyAlso,
    notifyAllowedDomains: allowedDomains(env),
  };
}

function allowedDomains(env: Env): string[] | undefined {
  if (read(env, 'NOTIFY_ALLOWED_DOMAINS') === undefined) return undefined;
  const domains = list(env, 'NOTIFY_ALLOWED_DOMAINS').map((d) => d.toLowerCase());
  for (const d of domains) {
    if (d !== '*' && !isDomainName(d))
      fail(
        'NOTIFY_ALLOWED_DOMAINS',
        d,
        'contains something that is not a domain name',
        'Use comma-separated domains, e.g. contoso.com,fabrikam.com, or * to allow any.',
      );
  }
  return domains.includes('*') ? ['*'] : domains;
}

/** Audiences of the rotator's own API: its application ID URI (api://…, https://…) and/or its client id. */
function apiAudiences(env: Env): string[] {
  const audiences = list(env, 'API_AUDIENCE');
  for (const a of audiences) {
    if (!isGuid(a) && !/^(api|https):\/\/[^\s,]+$/i.test(a))
      fail(
        'API_AUDIENCE',
        a,
        'not an application ID URI or client id',
        'Use comma-separated audiences of the rotator API, e.g. api://<clientId>,<clientId>.',
      );
  }
  return audiences;
}

type Tuning = Pick<
  Settings,
  | 'concurrency'
  | 'lockWaitSeconds'
  | 'inlineMax'
  | 'httpTimeBudgetSeconds'
  | 'forceMinIntervalMinutes'
  | 'graphWriteBudget'
  | 'graphWriteWindowSeconds'
>;

function tuning(env: Env): Tuning {
  return {
    concurrency: integerSetting(env, 'ROTATION_CONCURRENCY', 16, { min: 1, max: 256 }, 'apps'),
    lockWaitSeconds: integerSetting(env, 'LOCK_WAIT_SECONDS', 30, { min: 0, max: 600 }, 'seconds'),
    inlineMax: integerSetting(env, 'ROTATION_INLINE_MAX', 10, { min: 0, max: 10_000 }, 'apps'),
    httpTimeBudgetSeconds: integerSetting(
      env,
      'HTTP_TIME_BUDGET_SECONDS',
      200,
      { min: 0, max: 220 },
      'seconds',
    ),
    forceMinIntervalMinutes: integerSetting(
      env,
      'FORCE_MIN_INTERVAL_MINUTES',
      60,
      { min: 0, max: 10_080 },
      'minutes',
    ),
    graphWriteBudget: integerSetting(env, 'GRAPH_WRITE_BUDGET', 3_000, { min: 0, max: 100_000 }, 'writes'),
    graphWriteWindowSeconds: integerSetting(
      env,
      'GRAPH_WRITE_WINDOW_SECONDS',
      150,
      { min: 1, max: 3_600 },
      'seconds',
    ),
  };
}

const ENDPOINT_SETTINGS: Array<[string, EndpointKind, (s: Settings) => string | undefined]> = [
  ['AZURE_AUTHORITY_HOST', 'authority', (s) => s.authorityHost],
  ['GRAPH_ENDPOINT', 'graph', (s) => s.graphEndpoint],
  ['KEY_VAULT_URL', 'keyVault', (s) => s.keyVaultUrl],
  ['ACS_ENDPOINT', 'acs', (s) => s.acsEndpoint],
];

/**
 * The authority receives every new client secret, Graph and Key Vault a bearer token (and Key Vault the secret),
 * ACS a token for all of Communication Services: outside a known Azure cloud only with ALLOW_CUSTOM_ENDPOINTS.
 */
function checkEndpoints(settings: Settings): void {
  for (const [name, kind, value] of ENDPOINT_SETTINGS) {
    const url = value(settings);
    if (url === undefined || isKnownAzureHost(kind, url)) continue;
    if (settings.allowCustomEndpoints) {
      settings.warnings.push(
        `${name} ${url} is not a host of a known Azure cloud (allowed by ALLOW_CUSTOM_ENDPOINTS)`,
      );
      continue;
    }
    fail(
      name,
      url,
      'not a host of a known Azure cloud (public, US Government, China)',
      `Use one of ${knownHostsText(kind)}, or set ALLOW_CUSTOM_ENDPOINTS=true for a proxy you trust.`,
    );
  }
  if (settings.keyVaultDisableChallengeVerification)
    settings.warnings.push(
      'KEY_VAULT_DISABLE_CHALLENGE_VERIFICATION is on: the Key Vault client does not check that the vault host ' +
        'belongs to the authority that issues its token',
    );
}

export function loadSettings(env: Env, opts: LoadOptions): Settings {
  validateSchedule(env);
  const settings: Settings = {
    ...endpoints(env, opts),
    ...scope(env),
    ...lifetimes(env),
    ...mail(env),
    remindUnmanaged: bool(env, 'REMIND_UNMANAGED', false),
    storage: storageSetting(env),
    keyVaultDisableChallengeVerification: bool(env, 'KEY_VAULT_DISABLE_CHALLENGE_VERIFICATION', false),
    ...tuning(env),
    apiAudiences: apiAudiences(env),
    allowCustomEndpoints: bool(env, 'ALLOW_CUSTOM_ENDPOINTS', false),
    warnings: [],
  };
  checkEndpoints(settings);
  return settings;
}

/** Microsoft's own authority hosts; any other host (a proxy, the simulator) gets instance discovery off. */
export function isMicrosoftAuthority(authorityHost: string): boolean {
  return isKnownAzureHost('authority', authorityHost);
}
