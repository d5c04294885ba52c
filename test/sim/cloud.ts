// The simulated cloud: Entra ID (authority + managed identity endpoint), Microsoft Graph, Key Vault and
// ACS Email on 127.0.0.1, sharing one tenant, one token issuer, one request log and one set of faults.
import { randomBytes, randomUUID } from 'node:crypto';
import { createAcs, MailState, type AcsDomainKind, type OperationIdReuse } from './acs.js';
import { SimClock } from './clock.js';
import { createEntra } from './entra.js';
import { createGraph } from './graph.js';
import {
  Faults,
  RequestLog,
  startSimServer,
  type ErrorShape,
  type Route,
  type RunningServer,
} from './http.js';
import { createKeyVault, VaultState } from './keyvault.js';
import { Tenant, type SimServicePrincipal, type TenantOptions } from './tenant.js';
import { TokenIssuer, type CallerClaims } from './tokens.js';

export interface SimService {
  routes: Route[];
  errors: ErrorShape;
}

export interface SimOrigins {
  entra: string;
  mi: string;
  graph: string;
  keyvault: string;
  acs: string;
}

/** What every service module receives. `origins` is filled in once all servers listen. */
export interface SimContext {
  /** The one clock of this cloud (also `tenant.clock`): every service reads time from it. */
  clock: SimClock;
  tenant: Tenant;
  issuer: TokenIssuer;
  faults: Faults;
  log: RequestLog;
  origins: SimOrigins;
  /** The rotator's own identity: a managed identity's service principal (or an app's SP on-premises). */
  rotator: SimServicePrincipal;
  /** The secret the App Service MI endpoint expects in X-IDENTITY-HEADER. */
  identityHeader: string;
  /** Key Vault RBAC: object ids holding each role on the vault. */
  vaultRoles: Map<string, Set<VaultRole>>;
  /** ACS RBAC: object ids allowed to send mail with Entra tokens. */
  acsSenders: Set<string>;
  /** ACS access key (base64) for connection-string (HMAC) auth. */
  acsAccessKey: string;
  /** Sender domain of the Azure-managed email domain. */
  emailDomain: string;
  vault: VaultState;
  mail: MailState;
}

export type VaultRole = 'Key Vault Secrets Officer' | 'Key Vault Secrets User' | 'Key Vault Reader';

export interface SimCloudOptions extends TenantOptions {
  /** Graph app roles of the rotator (default: Application.ReadWrite.OwnedBy + User.ReadBasic.All). */
  rotatorGraphRoles?: string[];
  /** Key Vault role of the rotator (default Key Vault Secrets Officer; null = none). */
  rotatorVaultRole?: VaultRole | null;
  /** Whether the rotator may send mail with its own identity (default true). */
  rotatorCanSendMail?: boolean;
  /** Enforce Graph's documented throttling budgets (default true). */
  graphThrottling?: boolean;
  /** ACS per-sender rate limit: messages per minute before 429 (default: unlimited, or acsDomainKind's). */
  acsMessagesPerMinute?: number;
  /** ACS: the documented send and status rate limits of this kind of sender domain (default: none). */
  acsDomainKind?: AcsDomainKind;
  /** ACS: how long a send stays Running on the cloud's clock (default 0: Running on the first poll only). */
  acsSendRunningMs?: number;
  /** ACS: what a send with an Operation-Id already used does (default 'existing'). */
  acsOperationIdReuse?: OperationIdReuse;
}

/** A caller of the rotator's own HTTP API, as `callerToken` mints it. */
export interface CallerTokenOptions {
  /** App roles (`Rotation.Read`, `Rotation.Rotate`, `Rotation.Force`); default none (no `roles` claim). */
  roles?: string[];
  /** Default `apiAudience`. */
  audience?: string;
  /** Default the tenant's v2 issuer, `${origins.entra}/${tenantId}/v2.0`. */
  issuer?: string;
  /** Default 3600 (Entra: 60-90 minutes); negative mints an already expired token. */
  expiresInSeconds?: number;
  /** Caller object id (default a new GUID per call). */
  oid?: string;
  /** Caller client id, the `azp` claim (default a new GUID per call). */
  appId?: string;
  /** A user's display name; a token without it is app-only (`idtyp: app`). */
  name?: string;
  /** 'stranger' signs with an unpublished key under the authority's kid (a forged token). */
  signedBy?: 'authority' | 'stranger';
  /** Tenant id claim (default this tenant). */
  tenantId?: string;
}

export interface SimCloud extends SimContext {
  /** The rotator's own API as a v2 access token names it in `aud`: the API app registration's client id. */
  apiAudience: string;
  /** A v2 access token for the rotator's own API, signed by the authority (times from the cloud's clock). */
  callerToken(opts?: CallerTokenOptions): Promise<string>;
  /** Environment for the product: managed identity (App Service style) and every endpoint. */
  env: Record<string, string>;
  /** The same, but the rotator authenticates as a service principal with a client secret (on-premises). */
  servicePrincipalEnv(): Record<string, string>;
  /** Every secret value the cloud ever issued (client secrets, and values stored in Key Vault). */
  issuedSecrets(): string[];
  stop(): Promise<void>;
}

// Stable within one process, because @azure/identity caches managed-identity tokens process-wide
// (the vault and ACS resources are fixed strings): a second cloud in the same process must accept
// the tokens the first one issued, as the same identity in the same tenant would.
const PROCESS_TENANT_ID = randomUUID();
const PROCESS_ROTATOR = { id: randomUUID(), appId: randomUUID() };
/** The client id of the rotator's API app registration (v2 tokens carry it as `aud`). */
export const SIM_API_AUDIENCE = '6f1d2c8e-5a47-4f0e-9b3a-2d7c4e8a1b90';
let processIssuer: Promise<TokenIssuer> | undefined;

export async function startSimCloud(opts: SimCloudOptions = {}): Promise<SimCloud> {
  const issuer = await (processIssuer ??= TokenIssuer.create());
  const clock = opts.clock ?? new SimClock();
  const tenant = new Tenant({ tenantId: PROCESS_TENANT_ID, ...opts, clock });
  const rotator = tenant.addServicePrincipal({
    displayName: 'entra-secret-rotator (managed identity)',
    appId: PROCESS_ROTATOR.appId,
    servicePrincipalType: 'ManagedIdentity',
    graphRoles: opts.rotatorGraphRoles ?? ['Application.ReadWrite.OwnedBy', 'User.ReadBasic.All'],
  });
  // Keep the object id stable as well (tokens carry it as `oid`).
  tenant.servicePrincipals.delete(rotator.id);
  rotator.id = PROCESS_ROTATOR.id;
  tenant.servicePrincipals.set(rotator.id, rotator);

  const vaultRoles = new Map<string, Set<VaultRole>>();
  const vaultRole = opts.rotatorVaultRole === undefined ? 'Key Vault Secrets Officer' : opts.rotatorVaultRole;
  if (vaultRole) vaultRoles.set(rotator.id, new Set([vaultRole]));

  const ctx: SimContext = {
    clock,
    tenant,
    issuer,
    faults: new Faults(),
    log: new RequestLog(),
    origins: { entra: '', mi: '', graph: '', keyvault: '', acs: '' },
    rotator,
    identityHeader: randomBytes(16).toString('hex'),
    vaultRoles,
    acsSenders: new Set(opts.rotatorCanSendMail === false ? [] : [rotator.id]),
    acsAccessKey: randomBytes(32).toString('base64'),
    emailDomain: `${randomUUID()}.azurecomm.net`,
    vault: new VaultState(clock),
    mail: new MailState({
      clock,
      domainKind: opts.acsDomainKind,
      messagesPerMinute: opts.acsMessagesPerMinute,
      runningForMs: opts.acsSendRunningMs,
      operationIdReuse: opts.acsOperationIdReuse,
    }),
  };

  const entra = createEntra(ctx);
  const services: Array<[keyof SimOrigins, SimService, boolean]> = [
    ['entra', entra.authority, true],
    ['mi', entra.managedIdentity, false], // the App Service MI endpoint is plain http on localhost
    ['graph', createGraph(ctx, { throttling: opts.graphThrottling ?? true }), true],
    ['keyvault', createKeyVault(ctx), true],
    ['acs', createAcs(ctx), true],
  ];
  const servers: RunningServer[] = [];
  for (const [name, svc, tls] of services) {
    const server = await startSimServer({
      service: name,
      tls,
      routes: svc.routes,
      errors: svc.errors,
      faults: ctx.faults,
      log: ctx.log,
    });
    servers.push(server);
    ctx.origins[name] = server.origin;
  }
  issuer.issuerOrigin = ctx.origins.entra;

  const common = {
    AZURE_AUTHORITY_HOST: ctx.origins.entra,
    GRAPH_ENDPOINT: ctx.origins.graph,
    KEY_VAULT_URL: ctx.origins.keyvault,
    KEY_VAULT_DISABLE_CHALLENGE_VERIFICATION: 'true',
    ALLOW_CUSTOM_ENDPOINTS: 'true', // the simulated cloud's hosts are not Azure's
    ACS_ENDPOINT: ctx.origins.acs,
    EMAIL_SENDER: `DoNotReply@${ctx.emailDomain}`,
    API_AUDIENCE: SIM_API_AUDIENCE,
  };
  const env = {
    ...common,
    IDENTITY_ENDPOINT: `${ctx.origins.mi}/msi/token`,
    IDENTITY_HEADER: ctx.identityHeader,
  };

  const callerToken = (o: CallerTokenOptions = {}): Promise<string> => {
    const tid = o.tenantId ?? tenant.tenantId;
    const oid = o.oid ?? randomUUID();
    const claims: Omit<CallerClaims, 'iss' | 'iat' | 'nbf' | 'exp'> = {
      aud: o.audience ?? SIM_API_AUDIENCE,
      tid,
      oid,
      sub: oid,
      azp: o.appId ?? randomUUID(),
      azpacr: '1',
      // Entra leaves the claim out when the caller holds no app role.
      ...(o.roles?.length ? { roles: o.roles } : {}),
      ver: '2.0',
      idtyp: o.name === undefined ? 'app' : 'user',
      ...(o.name === undefined ? {} : { name: o.name }),
    };
    return issuer.mint(claims, {
      lifetimeSeconds: o.expiresInSeconds ?? 3600,
      nowSeconds: clock.nowSeconds(),
      issuer: o.issuer ?? `${ctx.origins.entra}/${tid}/v2.0`,
      signedBy: o.signedBy,
    });
  };

  return {
    ...ctx,
    apiAudience: SIM_API_AUDIENCE,
    callerToken,
    env,
    servicePrincipalEnv() {
      // The rotator as an app registration's service principal with a client secret (on-premises hosting).
      const secret = tenant.issueServicePrincipalSecret(rotator);
      return {
        ...common,
        AZURE_TENANT_ID: tenant.tenantId,
        AZURE_CLIENT_ID: rotator.appId,
        AZURE_CLIENT_SECRET: secret,
      };
    },
    issuedSecrets: () => [...tenant.issuedSecrets, ...ctx.vault.allValues()],
    async stop() {
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}

/** The ACS connection string for HMAC auth (an alternative to ACS_ENDPOINT + the rotator's identity). */
export function acsConnectionString(cloud: SimCloud): string {
  return `endpoint=${cloud.origins.acs}/;accesskey=${cloud.acsAccessKey}`;
}
