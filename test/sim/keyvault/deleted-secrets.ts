// Key Vault deleted secrets: get, list, purge and recover what soft delete kept (90 recoverable days).
import type { SimContext } from '../cloud.js';
import type { SimRequest, SimResponse } from '../http.js';
import { admit } from './auth.js';
import { bundle, deletedInfo, deletedNotFound, item, page, validName } from './wire.js';

function deletedSecret(ctx: SimContext, req: SimRequest) {
  const state = ctx.vault;
  const name = validName(req.params[0]);
  req.subject = name;
  const s = state.find(name);
  if (!s?.deleted) throw deletedNotFound();
  return s;
}

export const getDeletedSecret =
  (ctx: SimContext) =>
  async (req: SimRequest): Promise<SimResponse> => {
    await admit(ctx, req, 'readMetadata', `/deletedsecrets/${req.params[0]}`);
    const s = deletedSecret(ctx, req);
    return {
      status: 200,
      body: {
        ...deletedInfo(ctx.origins.keyvault, s),
        ...bundle(ctx.origins.keyvault, s, s.versions.at(-1)!, false),
      },
    };
  };

export const listDeletedSecrets =
  (ctx: SimContext) =>
  async (req: SimRequest): Promise<SimResponse> => {
    await admit(ctx, req, 'readMetadata', '/deletedsecrets');
    const all = ctx.vault.deletedSecrets().map((s) => ({
      ...deletedInfo(ctx.origins.keyvault, s),
      ...item(ctx.origins.keyvault, s, s.versions.at(-1)!, false),
    }));
    return { status: 200, body: page(ctx.origins.keyvault, req, all, '/deletedsecrets') };
  };

export const purgeDeletedSecret =
  (ctx: SimContext) =>
  async (req: SimRequest): Promise<SimResponse> => {
    const state = ctx.vault;
    await admit(ctx, req, 'purge', `/deletedsecrets/${req.params[0]}`);
    const s = deletedSecret(ctx, req);
    state.purge(s.name);
    return { status: 204 };
  };

export const recoverDeletedSecret =
  (ctx: SimContext) =>
  async (req: SimRequest): Promise<SimResponse> => {
    await admit(ctx, req, 'recover', `/deletedsecrets/${req.params[0]}`);
    const s = deletedSecret(ctx, req);
    delete s.deleted;
    return { status: 200, body: bundle(ctx.origins.keyvault, s, s.versions.at(-1)!, false) };
  };
