// Key Vault secrets (live ones): set, get, update, list, list versions and (soft) delete, over the vault state
// (keyvault/state.ts). "What does the simulated vault do with setSecret" is answered here.
import type { SimContext } from '../cloud.js';
import { jsonBody, SimHttpError, type SimRequest, type SimResponse } from '../http.js';
import { admit } from './auth.js';
import {
  badParameter,
  bool,
  bundle,
  checkContentType,
  checkTags,
  deletedInfo,
  epoch,
  item,
  MAX_VALUE_BYTES,
  page,
  RECOVERABLE_DAYS,
  secretNotFound,
  validName,
  versionOf,
} from './wire.js';

export interface SetBody {
  value?: unknown;
  tags?: unknown;
  contentType?: unknown;
  attributes?: { enabled?: unknown; nbf?: unknown; exp?: unknown };
}

export const setSecret =
  (ctx: SimContext) =>
  async (req: SimRequest): Promise<SimResponse> => {
    const state = ctx.vault;
    await admit(ctx, req, 'setSecret', `/secrets/${req.params[0]}`);
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
    return { status: 200, body: bundle(ctx.origins.keyvault, state.find(name)!, v, true) };
  };

export const getSecret =
  (ctx: SimContext) =>
  async (req: SimRequest): Promise<SimResponse> => {
    const state = ctx.vault;
    await admit(ctx, req, 'getSecret', `/secrets/${req.params[0]}`);
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
    return { status: 200, body: bundle(ctx.origins.keyvault, s, v, true) };
  };

export const updateSecret =
  (ctx: SimContext) =>
  async (req: SimRequest): Promise<SimResponse> => {
    const state = ctx.vault;
    await admit(ctx, req, 'update', `/secrets/${req.params[0]}`);
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
    return { status: 200, body: bundle(ctx.origins.keyvault, s, v, false) };
  };

export const listSecrets =
  (ctx: SimContext) =>
  async (req: SimRequest): Promise<SimResponse> => {
    const state = ctx.vault;
    await admit(ctx, req, 'readMetadata', '/secrets');
    const all = state.liveSecrets().map((s) => item(ctx.origins.keyvault, s, s.versions.at(-1)!, false));
    return { status: 200, body: page(ctx.origins.keyvault, req, all, '/secrets') };
  };

export const listVersions =
  (ctx: SimContext) =>
  async (req: SimRequest): Promise<SimResponse> => {
    const state = ctx.vault;
    await admit(ctx, req, 'readMetadata', `/secrets/${req.params[0]}`);
    const name = validName(req.params[0]);
    req.subject = name;
    const s = state.live(name);
    // The real service answers an empty list for a name it does not know.
    const all = s ? s.versions.map((v) => item(ctx.origins.keyvault, s, v, true)) : [];
    return {
      status: 200,
      body: page(ctx.origins.keyvault, req, all, `/secrets/${s?.name ?? name}/versions`),
    };
  };

export const deleteSecret =
  (ctx: SimContext) =>
  async (req: SimRequest): Promise<SimResponse> => {
    const state = ctx.vault;
    await admit(ctx, req, 'delete', `/secrets/${req.params[0]}`);
    const name = validName(req.params[0]);
    req.subject = name;
    const s = state.live(name);
    if (!s) throw secretNotFound(name);
    // Soft delete is immediate here (the real one can take a few seconds; the SDK polls either way).
    const now = ctx.clock.nowSeconds();
    s.deleted = { deletedDate: now, scheduledPurgeDate: now + RECOVERABLE_DAYS * 86_400 };
    return {
      status: 200,
      body: {
        ...deletedInfo(ctx.origins.keyvault, s),
        ...bundle(ctx.origins.keyvault, s, s.versions.at(-1)!, false),
      },
    };
  };
