// Which application roles let a caller do what, as the Graph permission tables list them (least privileged first).
// azure-contracts.md §A.3, §A.4, §A.8; servicePrincipal get / list: Application.Read.All, then
// Application.ReadWrite.OwnedBy ("allows an app to call GET /applications and GET /servicePrincipals to list all
// applications and service principals in the tenant"), Application.ReadWrite.All, Directory.Read.All,
// Directory.ReadWrite.All.
import type { SimApplication } from '../tenant.js';
import { denied } from './odata.js';
import { lower, type Call } from './state.js';

export const APP_READ = [
  'Application.Read.All',
  'Application.ReadWrite.OwnedBy',
  'Application.ReadWrite.All',
  'Directory.Read.All',
  'Directory.ReadWrite.All',
];
export const APP_WRITE_ANY = ['Application.ReadWrite.All', 'Directory.ReadWrite.All'];
export const USER_READ = [
  'User.ReadBasic.All',
  'User.Read.All',
  'User.ReadWrite.All',
  'Directory.Read.All',
  'Directory.ReadWrite.All',
];
export const POLICY_READ = ['Policy.Read.All', 'Policy.ReadWrite.ApplicationConfiguration'];

export const hasAny = (call: Call, roles: string[]) => roles.some((r) => call.roles.has(r));

export function requireAny(call: Call, roles: string[]): void {
  if (!hasAny(call, roles)) throw denied();
}

/** ReadWrite.All writes any app; OwnedBy only the apps the caller owns. */
export const canWrite = (call: Call, app: SimApplication) =>
  hasAny(call, APP_WRITE_ANY) ||
  (call.roles.has('Application.ReadWrite.OwnedBy') &&
    app.ownerIds.some((o) => lower(o) === lower(call.claims.oid)));
