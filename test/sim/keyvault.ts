// The simulated Key Vault (secrets only), served at the root like a real vault: the operations
// @azure/keyvault-secrets emits, the challenge-based bearer auth, RBAC with the vault's data-plane roles,
// soft delete, paging with absolute nextLinks, and the service's limits and error bodies.
import { randomBytes, randomUUID } from 'node:crypto';
import type { SimContext, SimService, VaultRole } from './cloud.js';
import { jsonBody, SimHttpError, type ErrorShape, type SimRequest, type SimResponse } from './http.js';
import { SimClock } from './clock.js';
import type { AccessClaims } from './tokens.js';

const VAULT_RESOURCE = 'https://vault.azure.net';
const RECOVERABLE_DAYS = 90;
const RECOVERY_LEVEL = 'Recoverable+Purgeable';
const MAX_VALUE_BYTES = 25 * 1024;
const MAX_TAGS = 15;
/** The current about-secrets page says 512-character tag names and values (older pages said 256). */
const MAX_TAG_CHARS = 512;
const MAX_CONTENT_TYPE = 255;
const MAX_PAGE = 25;
const NOT_FOUND_HINT =
  'If you recently deleted this secret you may be able to recover it using the correct recovery command. ' +
  'For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182';

interface StoredVersion {
  version: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  /** Epoch seconds, as on the wire. */
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
}

interface StoredSecret {
  /** The name as first created (lookups are case-insensitive). */
  name: string;
  versions: StoredVersion[];
  deleted?: { deletedDate: number; scheduledPurgeDate: number };
}

/** A version as tests see it. */
export interface SecretVersionView {
  name: string;
  version: string;
  /** Versioned id, `{vault}/secrets/{name}/{version}`. */
  id: string;
  value: string;
  contentType?: string;
  tags: Record<string, string>;
  enabled: boolean;
  notBefore?: Date;
  expiresOn?: Date;
  createdOn: Date;
  updatedOn: Date;
}

export interface SeedVersion {
  tags?: Record<string, string>;
  contentType?: string;
  enabled?: boolean;
  notBefore?: Date;
  expiresOn?: Date;
  /** Defaults to now; set it to seed history (e.g. a version stored 40 days ago). */
  createdOn?: Date;
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

/** The vault's contents: every secret with all its versions, including soft-deleted ones. */
export class VaultState {
  private readonly secrets = new Map<string, StoredSecret>();
  /** Every value ever stored, purged ones included: the leak scanner's list. */
  private readonly everStored: string[] = [];
  /** Origin for ids; bound by createKeyVault because the server's port is known only after it listens. */
  private originOf: () => string = () => 'https://vault.invalid';

  /** `clock`: the cloud's clock (created/updated, exp/nbf checks, purge times). */
  constructor(private readonly clock: SimClock = new SimClock()) {}

  private nowSeconds(): number {
    return this.clock.nowSeconds();
  }

  bindOrigin(origin: () => string): void {
    this.originOf = origin;
  }

  get origin(): string {
    return this.originOf();
  }

  /** Latest version of a live (not deleted) secret. */
  latest(name: string): SecretVersionView | undefined {
    const s = this.live(name);
    const v = s?.versions.at(-1);
    return s && v ? this.view(s, v) : undefined;
  }

  /** All versions of a live secret, oldest first. */
  versions(name: string): SecretVersionView[] {
    const s = this.live(name);
    return s ? s.versions.map((v) => this.view(s, v)) : [];
  }

  /** Names of live secrets. */
  names(): string[] {
    return [...this.secrets.values()].filter((s) => !s.deleted).map((s) => s.name);
  }

  /** Names of soft-deleted secrets (recoverable or purgeable). */
  deletedNames(): string[] {
    return [...this.secrets.values()].filter((s) => s.deleted).map((s) => s.name);
  }

  allValues(): string[] {
    return [...this.everStored];
  }

  /** Stores a version directly, bypassing HTTP, auth and limits (test setup). */
  seed(name: string, value: string, opts: SeedVersion = {}): SecretVersionView {
    const created = opts.createdOn ? seconds(opts.createdOn) : this.nowSeconds();
    const v = this.put(name, {
      value,
      tags: opts.tags,
      contentType: opts.contentType,
      enabled: opts.enabled ?? true,
      nbf: opts.notBefore ? seconds(opts.notBefore) : undefined,
      exp: opts.expiresOn ? seconds(opts.expiresOn) : undefined,
      created,
      updated: created,
    });
    return this.view(this.find(name)!, v);
  }

  // --- used by the service ---

  find(name: string): StoredSecret | undefined {
    return this.secrets.get(name.toLowerCase());
  }

  live(name: string): StoredSecret | undefined {
    const s = this.find(name);
    return s && !s.deleted ? s : undefined;
  }

  liveSecrets(): StoredSecret[] {
    return [...this.secrets.values()].filter((s) => !s.deleted).sort((a, b) => cmp(a.name, b.name));
  }

  deletedSecrets(): StoredSecret[] {
    return [...this.secrets.values()].filter((s) => s.deleted).sort((a, b) => cmp(a.name, b.name));
  }

  put(name: string, v: Omit<StoredVersion, 'version'>): StoredVersion {
    let s = this.find(name);
    if (!s) {
      s = { name, versions: [] };
      this.secrets.set(name.toLowerCase(), s);
    }
    const stored: StoredVersion = { ...v, version: randomBytes(16).toString('hex') };
    s.versions.push(stored);
    this.everStored.push(v.value);
    return stored;
  }

  purge(name: string): void {
    this.secrets.delete(name.toLowerCase());
  }

  private view(s: StoredSecret, v: StoredVersion): SecretVersionView {
    return {
      name: s.name,
      version: v.version,
      id: `${this.origin}/secrets/${s.name}/${v.version}`,
      value: v.value,
      contentType: v.contentType,
      tags: { ...(v.tags ?? {}) },
      enabled: v.enabled,
      notBefore: v.nbf === undefined ? undefined : new Date(v.nbf * 1000),
      expiresOn: v.exp === undefined ? undefined : new Date(v.exp * 1000),
      createdOn: new Date(v.created * 1000),
      updatedOn: new Date(v.updated * 1000),
    };
  }
}

const cmp = (a: string, b: string) =>
  a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0;

// ---------------------------------------------------------------------------------------------------
// Errors: {"error":{"code","message","innererror":{"code"}}}. A service error carries its inner code
// in the SimHttpError code as "Code:InnerCode", because the kernel's error hook only passes a code.

const kvErrors: ErrorShape = {
  body(status, code, message) {
    const [outer, inner] = code.split(':');
    const mapped = status === 429 && outer === 'TooManyRequests' ? 'Throttled' : outer;
    return { error: { code: mapped, message, ...(inner ? { innererror: { code: inner } } : {}) } };
  },
  headers: () => ({ 'x-ms-request-id': randomUUID(), 'x-ms-keyvault-service-version': '1.9.2528.1' }),
};

const badParameter = (message: string) => new SimHttpError(400, 'BadParameter', message);

type Action = 'setSecret' | 'getSecret' | 'readMetadata' | 'update' | 'delete' | 'purge' | 'recover';

/** Data actions and the built-in roles that grant them. */
const ACTIONS: Record<Action, { name: string; roles: VaultRole[] }> = {
  setSecret: {
    name: 'Microsoft.KeyVault/vaults/secrets/setSecret/action',
    roles: ['Key Vault Secrets Officer'],
  },
  getSecret: {
    name: 'Microsoft.KeyVault/vaults/secrets/getSecret/action',
    roles: ['Key Vault Secrets Officer', 'Key Vault Secrets User'],
  },
  readMetadata: {
    name: 'Microsoft.KeyVault/vaults/secrets/readMetadata/action',
    roles: ['Key Vault Secrets Officer', 'Key Vault Secrets User', 'Key Vault Reader'],
  },
  update: { name: 'Microsoft.KeyVault/vaults/secrets/update/action', roles: ['Key Vault Secrets Officer'] },
  delete: { name: 'Microsoft.KeyVault/vaults/secrets/delete', roles: ['Key Vault Secrets Officer'] },
  purge: { name: 'Microsoft.KeyVault/vaults/secrets/purge/action', roles: ['Key Vault Secrets Officer'] },
  recover: { name: 'Microsoft.KeyVault/vaults/secrets/recover/action', roles: ['Key Vault Secrets Officer'] },
};

interface SetBody {
  value?: unknown;
  tags?: unknown;
  contentType?: unknown;
  attributes?: { enabled?: unknown; nbf?: unknown; exp?: unknown };
}

export function createKeyVault(ctx: SimContext): SimService {
  const state = ctx.vault;
  state.bindOrigin(() => ctx.origins.keyvault);
  const challenge = () =>
    `Bearer authorization="${ctx.origins.entra}/${ctx.tenant.tenantId}", resource="${VAULT_RESOURCE}"`;

  /** Authentication, api-version and RBAC, in that order (RBAC before any lookup, like the service). */
  const admit = async (req: SimRequest, action: Action, resource: string): Promise<void> => {
    const www = { 'www-authenticate': challenge() };
    if (req.headers.authorization === undefined) {
      throw new SimHttpError(401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.', www);
    }
    let claims: AccessClaims;
    try {
      claims = await ctx.issuer.verify(req, VAULT_RESOURCE, 'Unauthorized', ctx.clock.now());
    } catch (err) {
      if (err instanceof SimHttpError) throw new SimHttpError(401, 'Unauthorized', err.message, www);
      throw err;
    }
    if (claims.tid !== ctx.tenant.tenantId) {
      throw new SimHttpError(
        401,
        'Unauthorized',
        `AKV10032: Invalid issuer. Expected one of https://sts.windows.net/${ctx.tenant.tenantId}/, found ${String(claims.iss)}.`,
        www,
      );
    }
    if (!req.query.get('api-version'))
      throw badParameter('The api-version query parameter is missing or empty.');
    const roles = ctx.vaultRoles.get(claims.oid);
    const { name, roles: allowed } = ACTIONS[action];
    if (!allowed.some((r) => roles?.has(r))) {
      throw new SimHttpError(
        403,
        'Forbidden:ForbiddenByRbac',
        'Caller is not authorized to perform action on resource.\r\n' +
          'If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n' +
          `Caller: appid=${claims.appid};oid=${claims.oid};iss=${String(claims.iss)}\r\n` +
          `Action: '${name}'\r\n` +
          `Resource: '/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-sim/providers/microsoft.keyvault/vaults/kv-sim${resource.toLowerCase()}'\r\n` +
          'Assignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: kv-sim;location=westeurope\r\n',
      );
    }
  };

  const validName = (raw: string | undefined): string => {
    const name = raw ?? '';
    // Docs: 1-127 characters, 0-9 a-z A-Z and '-', starting with a letter.
    if (!/^[a-zA-Z][0-9a-zA-Z-]{0,126}$/.test(name)) {
      throw badParameter(`The request URI contains an invalid name: ${name.slice(0, 130)}`);
    }
    return name;
  };

  const secretNotFound = (name: string, version?: string) =>
    new SimHttpError(
      404,
      'SecretNotFound',
      `A secret with (name/id) ${version ? `${name}/${version}` : name} was not found in this key vault. ${NOT_FOUND_HINT}`,
    );

  const deletedNotFound = () => new SimHttpError(404, 'SecretNotFound', 'Deleted Secret not found');

  const attributes = (v: StoredVersion) => ({
    enabled: v.enabled,
    ...(v.nbf !== undefined ? { nbf: v.nbf } : {}),
    ...(v.exp !== undefined ? { exp: v.exp } : {}),
    created: v.created,
    updated: v.updated,
    recoveryLevel: RECOVERY_LEVEL,
    recoverableDays: RECOVERABLE_DAYS,
  });

  const bundle = (s: StoredSecret, v: StoredVersion, withValue: boolean) => ({
    ...(withValue ? { value: v.value } : {}),
    id: `${ctx.origins.keyvault}/secrets/${s.name}/${v.version}`,
    ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
    attributes: attributes(v),
    ...(v.tags ? { tags: v.tags } : {}),
  });

  const item = (s: StoredSecret, v: StoredVersion, versioned: boolean) => ({
    id: `${ctx.origins.keyvault}/secrets/${s.name}${versioned ? `/${v.version}` : ''}`,
    attributes: attributes(v),
    ...(v.tags ? { tags: v.tags } : {}),
    ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
  });

  const deletedInfo = (s: StoredSecret) => ({
    recoveryId: `${ctx.origins.keyvault}/deletedsecrets/${s.name}`,
    deletedDate: s.deleted!.deletedDate,
    scheduledPurgeDate: s.deleted!.scheduledPurgeDate,
  });

  const versionOf = (s: StoredSecret, version: string | undefined): StoredVersion => {
    const v = version ? s.versions.find((x) => x.version === version.toLowerCase()) : s.versions.at(-1);
    if (!v) throw secretNotFound(s.name, version);
    return v;
  };

  const checkTags = (tags: unknown): Record<string, string> | undefined => {
    if (tags === undefined || tags === null) return undefined;
    if (typeof tags !== 'object' || Array.isArray(tags))
      throw badParameter('Tags must be an object of strings.');
    const entries = Object.entries(tags as Record<string, unknown>);
    if (entries.length > MAX_TAGS)
      throw badParameter(`The number of tags (${entries.length}) exceeds the maximum of ${MAX_TAGS}.`);
    for (const [k, v] of entries) {
      if (typeof v !== 'string') throw badParameter(`The value of tag '${k.slice(0, 64)}' must be a string.`);
      if (k.length === 0 || k.length > MAX_TAG_CHARS || v.length > MAX_TAG_CHARS) {
        throw badParameter(
          `Tag names and values must be 1-${MAX_TAG_CHARS} characters ('${k.slice(0, 64)}').`,
        );
      }
    }
    return Object.fromEntries(entries) as Record<string, string>;
  };

  const checkContentType = (ct: unknown): string | undefined => {
    if (ct === undefined || ct === null) return undefined;
    if (typeof ct !== 'string') throw badParameter('contentType must be a string.');
    if (ct.length > MAX_CONTENT_TYPE)
      throw badParameter(`contentType exceeds the maximum length of ${MAX_CONTENT_TYPE}.`);
    return ct;
  };

  const epoch = (x: unknown, field: string): number | undefined => {
    if (x === undefined || x === null) return undefined;
    if (typeof x !== 'number' || !Number.isFinite(x))
      throw badParameter(`Attribute '${field}' must be an IntDate (epoch seconds).`);
    return Math.floor(x);
  };

  const bool = (x: unknown, field: string): boolean | undefined => {
    if (x === undefined || x === null) return undefined;
    if (typeof x !== 'boolean') throw badParameter(`Attribute '${field}' must be a boolean.`);
    return x;
  };

  // --- operations ---

  const setSecret = async (req: SimRequest): Promise<SimResponse> => {
    await admit(req, 'setSecret', `/secrets/${req.params[0]}`);
    const name = validName(req.params[0]);
    req.subject = name;
    const body = jsonBody<SetBody>(req, 'BadParameter');
    // Never echo the value in a message.
    if (typeof body.value !== 'string')
      throw badParameter("Property 'value' is required and must be a string.");
    if (Buffer.byteLength(body.value, 'utf8') > MAX_VALUE_BYTES) {
      throw badParameter(`The secret value exceeds the maximum size of ${MAX_VALUE_BYTES} bytes.`);
    }
    const tags = checkTags(body.tags);
    const contentType = checkContentType(body.contentType);
    const enabled = bool(body.attributes?.enabled, 'enabled') ?? true;
    const nbf = epoch(body.attributes?.nbf, 'nbf');
    const exp = epoch(body.attributes?.exp, 'exp');
    const existing = state.find(name);
    if (existing?.deleted) {
      throw new SimHttpError(
        409,
        'Conflict:ObjectIsDeletedButRecoverable',
        `Secret ${existing.name} is currently in a deleted but recoverable state, and its name cannot be reused; ` +
          'in this state, the secret can only be recovered or purged.',
      );
    }
    const now = ctx.clock.nowSeconds();
    const v = state.put(existing?.name ?? name, {
      value: body.value,
      tags,
      contentType,
      enabled,
      nbf,
      exp,
      created: now,
      updated: now,
    });
    return { status: 200, body: bundle(state.find(name)!, v, true) };
  };

  const getSecret = async (req: SimRequest): Promise<SimResponse> => {
    await admit(req, 'getSecret', `/secrets/${req.params[0]}`);
    const name = validName(req.params[0]);
    req.subject = name;
    const s = state.live(name);
    if (!s) throw secretNotFound(name, req.params[1] || undefined);
    const v = versionOf(s, req.params[1] || undefined);
    if (!v.enabled) {
      throw new SimHttpError(
        403,
        'Forbidden:SecretDisabled',
        'Operation get is not allowed on a disabled secret.',
      );
    }
    return { status: 200, body: bundle(s, v, true) };
  };

  const updateSecret = async (req: SimRequest): Promise<SimResponse> => {
    await admit(req, 'update', `/secrets/${req.params[0]}`);
    const name = validName(req.params[0]);
    req.subject = name;
    const body = jsonBody<SetBody>(req, 'BadParameter');
    const s = state.live(name);
    if (!s) throw secretNotFound(name, req.params[1] || undefined);
    const v = versionOf(s, req.params[1] || undefined);
    const tags = checkTags(body.tags);
    const contentType = checkContentType(body.contentType);
    const enabled = bool(body.attributes?.enabled, 'enabled');
    const nbf = epoch(body.attributes?.nbf, 'nbf');
    const exp = epoch(body.attributes?.exp, 'exp');
    // PATCH semantics: only the fields sent change.
    if (tags !== undefined) v.tags = tags;
    if (contentType !== undefined) v.contentType = contentType;
    if (enabled !== undefined) v.enabled = enabled;
    if (nbf !== undefined) v.nbf = nbf;
    if (exp !== undefined) v.exp = exp;
    v.updated = ctx.clock.nowSeconds();
    return { status: 200, body: bundle(s, v, false) };
  };

  /** Pages with `maxresults` (1-25, default 25) and an absolute nextLink carrying an opaque $skiptoken. */
  const page = <T>(req: SimRequest, all: T[], path: string): { value: T[]; nextLink: string | null } => {
    const raw = req.query.get('maxresults');
    const max = raw === null || raw === '' ? MAX_PAGE : Number(raw);
    if (!Number.isInteger(max) || max < 1 || max > MAX_PAGE) {
      throw badParameter(`Invalid maxresults: the value must be an integer between 1 and ${MAX_PAGE}.`);
    }
    let offset = 0;
    const token = req.query.get('$skiptoken');
    if (token) {
      try {
        const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as {
          o?: unknown;
          p?: unknown;
        };
        if (typeof parsed.o !== 'number' || parsed.p !== path) throw new Error('bad token');
        offset = parsed.o;
      } catch {
        throw badParameter('The $skiptoken is invalid.');
      }
    }
    const value = all.slice(offset, offset + max);
    const next = offset + max;
    let nextLink: string | null = null;
    if (next < all.length) {
      const skip = Buffer.from(JSON.stringify({ o: next, p: path })).toString('base64url');
      const apiVersion = encodeURIComponent(req.query.get('api-version') ?? '');
      nextLink = `${ctx.origins.keyvault}${path}?api-version=${apiVersion}&$skiptoken=${skip}&maxresults=${max}`;
    }
    return { value, nextLink };
  };

  const listSecrets = async (req: SimRequest): Promise<SimResponse> => {
    await admit(req, 'readMetadata', '/secrets');
    const all = state.liveSecrets().map((s) => item(s, s.versions.at(-1)!, false));
    return { status: 200, body: page(req, all, '/secrets') };
  };

  const listVersions = async (req: SimRequest): Promise<SimResponse> => {
    await admit(req, 'readMetadata', `/secrets/${req.params[0]}`);
    const name = validName(req.params[0]);
    req.subject = name;
    const s = state.live(name);
    // The real service answers an empty list for a name it does not know.
    const all = s ? s.versions.map((v) => item(s, v, true)) : [];
    return { status: 200, body: page(req, all, `/secrets/${s?.name ?? name}/versions`) };
  };

  const deleteSecret = async (req: SimRequest): Promise<SimResponse> => {
    await admit(req, 'delete', `/secrets/${req.params[0]}`);
    const name = validName(req.params[0]);
    req.subject = name;
    const s = state.live(name);
    if (!s) throw secretNotFound(name);
    // Soft delete is immediate here (the real one can take a few seconds; the SDK polls either way).
    const now = ctx.clock.nowSeconds();
    s.deleted = { deletedDate: now, scheduledPurgeDate: now + RECOVERABLE_DAYS * 86_400 };
    return { status: 200, body: { ...deletedInfo(s), ...bundle(s, s.versions.at(-1)!, false) } };
  };

  const deletedSecret = (req: SimRequest) => {
    const name = validName(req.params[0]);
    req.subject = name;
    const s = state.find(name);
    if (!s?.deleted) throw deletedNotFound();
    return s;
  };

  const getDeletedSecret = async (req: SimRequest): Promise<SimResponse> => {
    await admit(req, 'readMetadata', `/deletedsecrets/${req.params[0]}`);
    const s = deletedSecret(req);
    return { status: 200, body: { ...deletedInfo(s), ...bundle(s, s.versions.at(-1)!, false) } };
  };

  const listDeletedSecrets = async (req: SimRequest): Promise<SimResponse> => {
    await admit(req, 'readMetadata', '/deletedsecrets');
    const all = state
      .deletedSecrets()
      .map((s) => ({ ...deletedInfo(s), ...item(s, s.versions.at(-1)!, false) }));
    return { status: 200, body: page(req, all, '/deletedsecrets') };
  };

  const purgeDeletedSecret = async (req: SimRequest): Promise<SimResponse> => {
    await admit(req, 'purge', `/deletedsecrets/${req.params[0]}`);
    const s = deletedSecret(req);
    state.purge(s.name);
    return { status: 204 };
  };

  const recoverDeletedSecret = async (req: SimRequest): Promise<SimResponse> => {
    await admit(req, 'recover', `/deletedsecrets/${req.params[0]}`);
    const s = deletedSecret(req);
    delete s.deleted;
    return { status: 200, body: bundle(s, s.versions.at(-1)!, false) };
  };

  return {
    errors: kvErrors,
    routes: [
      { method: 'GET', pattern: /^\/secrets\/?$/, op: 'keyvault.listSecrets', handler: listSecrets },
      {
        method: 'GET',
        pattern: /^\/secrets\/([^/]+)\/versions\/?$/,
        op: 'keyvault.listVersions',
        handler: listVersions,
      },
      {
        method: 'GET',
        pattern: /^\/secrets\/([^/]+)(?:\/([^/]*))?$/,
        op: 'keyvault.getSecret',
        handler: getSecret,
      },
      { method: 'PUT', pattern: /^\/secrets\/([^/]+)\/?$/, op: 'keyvault.setSecret', handler: setSecret },
      {
        method: 'PATCH',
        pattern: /^\/secrets\/([^/]+)(?:\/([^/]*))?$/,
        op: 'keyvault.updateSecret',
        handler: updateSecret,
      },
      {
        method: 'DELETE',
        pattern: /^\/secrets\/([^/]+)\/?$/,
        op: 'keyvault.deleteSecret',
        handler: deleteSecret,
      },
      {
        method: 'GET',
        pattern: /^\/deletedsecrets\/?$/,
        op: 'keyvault.listDeletedSecrets',
        handler: listDeletedSecrets,
      },
      {
        method: 'GET',
        pattern: /^\/deletedsecrets\/([^/]+)\/?$/,
        op: 'keyvault.getDeletedSecret',
        handler: getDeletedSecret,
      },
      {
        method: 'DELETE',
        pattern: /^\/deletedsecrets\/([^/]+)\/?$/,
        op: 'keyvault.purgeDeletedSecret',
        handler: purgeDeletedSecret,
      },
      {
        method: 'POST',
        pattern: /^\/deletedsecrets\/([^/]+)\/recover\/?$/,
        op: 'keyvault.recoverDeletedSecret',
        handler: recoverDeletedSecret,
      },
    ],
  };
}
