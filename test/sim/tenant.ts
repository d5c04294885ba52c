// The directory of the simulated tenant: users, service principals, app registrations and their
// credentials. The Entra token endpoints and Microsoft Graph both read and write this one model.
import { randomBytes, randomUUID } from 'node:crypto';
import { SimClock } from './clock.js';

export interface SimPasswordCredential {
  keyId: string;
  displayName: string | null;
  startDateTime: string;
  endDateTime: string;
  hint: string;
  customKeyIdentifier: null;
  /** Kept only by the simulator: to authenticate client-credential requests and to scan for leaks. */
  secretText: string;
  /** When the credential was created (ms); it authenticates only after the tenant's replication delay. */
  createdAt: number;
}

export interface SimKeyCredential {
  keyId: string;
  displayName: string | null;
  type: 'AsymmetricX509Cert';
  usage: 'Verify';
  startDateTime: string;
  endDateTime: string;
  customKeyIdentifier: string | null;
}

export type SignInAudience =
  'AzureADMyOrg' | 'AzureADMultipleOrgs' | 'AzureADandPersonalMicrosoftAccount' | 'PersonalMicrosoftAccount';

export interface SimApplication {
  id: string;
  appId: string;
  displayName: string;
  tags: string[];
  signInAudience: SignInAudience;
  createdDateTime: string;
  passwordCredentials: SimPasswordCredential[];
  keyCredentials: SimKeyCredential[];
  /** Object ids of users and service principals that own the app. */
  ownerIds: string[];
}

export interface SimUser {
  id: string;
  displayName: string;
  mail: string | null;
  userPrincipalName: string;
}

export interface SimServicePrincipal {
  id: string;
  appId: string;
  displayName: string;
  servicePrincipalType: 'Application' | 'ManagedIdentity';
  /** Microsoft Graph app roles granted to it, by value (they appear in the `roles` claim of its Graph tokens). */
  graphRoles: string[];
}

export interface TenantOptions {
  tenantId?: string;
  /** The cloud's clock (default: a new one following real time). */
  clock?: SimClock;
  /** ms before a new password authenticates (Entra replication; real: seconds to minutes). */
  replicationDelayMs?: number;
  /** App-management policy: maximum password lifetime in days (undefined = no policy). */
  passwordLifetimeMaxDays?: number;
  /** Whether addApplication creates the app's service principal unless told otherwise (default true). */
  servicePrincipalsByDefault?: boolean;
  /** Users in the tenant for Graph's throttling tier: S < 50, M 50-500, L > 500. */
  throttlingTier?: 'S' | 'M' | 'L';
}

export interface NewApplication {
  displayName: string;
  appId?: string;
  tags?: string[];
  signInAudience?: SignInAudience;
  ownerIds?: string[];
  /** Existing passwords, with dates (e.g. one that expires in 10 days). */
  passwords?: Array<{ displayName?: string | null; startDateTime: Date; endDateTime: Date }>;
  certificates?: Array<{ displayName?: string | null; startDateTime: Date; endDateTime: Date }>;
  /**
   * Whether the tenant holds a service principal for the app (default true, as for apps made in the portal).
   * false: a registration made with `az ad app create`, plain Graph or Bicep, which cannot sign in (AADSTS7000229).
   */
  servicePrincipal?: boolean;
  /** A Conditional Access policy blocks token issuance to this app (AADSTS53003, after the secret check). */
  conditionalAccessBlocked?: boolean;
}

const DAY = 86_400_000;

/** Graph timestamps carry 7 fractional digits, like 2021-09-09T19:50:29.3086381Z. */
export function graphTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');
}

/** A secret shaped like Entra's (40 characters, the third/fourth being a version marker such as 8Q~). */
function newSecretText(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~';
  const bytes = randomBytes(37);
  let s = '';
  for (const b of bytes) s += alphabet[b % alphabet.length];
  return `${s.slice(0, 3)}8Q~${s.slice(3, 37)}`;
}

export type AuthFailure =
  | { code: 'AADSTS700016'; message: string } // application not found
  | { code: 'AADSTS7000229'; message: string } // no service principal in the tenant
  | { code: 'AADSTS7000215'; message: string } // invalid secret
  | { code: 'AADSTS7000222'; message: string } // expired secret
  | { code: 'AADSTS53003'; message: string }; // Conditional Access blocked issuance (the secret was right)

export class Tenant {
  readonly tenantId: string;
  readonly clock: SimClock;
  replicationDelayMs: number;
  passwordLifetimeMaxDays?: number;
  throttlingTier: 'S' | 'M' | 'L';
  servicePrincipalsByDefault: boolean;
  readonly applications = new Map<string, SimApplication>();
  private readonly byAppId = new Map<string, SimApplication>();
  readonly users = new Map<string, SimUser>();
  readonly servicePrincipals = new Map<string, SimServicePrincipal>();
  /** appId (lower case) → its service principal; checked against `servicePrincipals`, which tests edit directly. */
  private readonly spByAppId = new Map<string, SimServicePrincipal>();
  /** App ids (lower case) a Conditional Access policy blocks from getting tokens (see blockByConditionalAccess). */
  readonly conditionalAccessBlocked = new Set<string>();
  /** Every secret value this tenant ever issued, removed ones included: the leak scanner's list. */
  readonly issuedSecrets: string[] = [];
  /** Client secrets of service principals' own app registrations that were seeded (the rotator on-premises). */
  private spSecrets = new Map<string, string>();

  constructor(opts: TenantOptions = {}) {
    this.tenantId = opts.tenantId ?? randomUUID();
    this.clock = opts.clock ?? new SimClock();
    this.replicationDelayMs = opts.replicationDelayMs ?? 0;
    this.passwordLifetimeMaxDays = opts.passwordLifetimeMaxDays;
    this.throttlingTier = opts.throttlingTier ?? 'L';
    this.servicePrincipalsByDefault = opts.servicePrincipalsByDefault ?? true;
  }

  addUser(u: { displayName: string; mail?: string | null; userPrincipalName?: string }): SimUser {
    const id = randomUUID();
    const user: SimUser = {
      id,
      displayName: u.displayName,
      mail: u.mail === undefined ? null : u.mail,
      userPrincipalName: u.userPrincipalName ?? `${id.slice(0, 8)}@contoso.onmicrosoft.com`,
    };
    this.users.set(id, user);
    return user;
  }

  /** Adds a service principal; one appId has at most one (a second replaces the first, as tests expect). */
  addServicePrincipal(sp: {
    displayName: string;
    appId?: string;
    servicePrincipalType?: 'Application' | 'ManagedIdentity';
    graphRoles?: string[];
  }): SimServicePrincipal {
    const created: SimServicePrincipal = {
      id: randomUUID(),
      appId: sp.appId ?? randomUUID(),
      displayName: sp.displayName,
      servicePrincipalType: sp.servicePrincipalType ?? 'Application',
      graphRoles: sp.graphRoles ?? [],
    };
    const existing = this.servicePrincipalByAppId(created.appId);
    if (existing) this.servicePrincipals.delete(existing.id);
    this.servicePrincipals.set(created.id, created);
    this.spByAppId.set(created.appId.toLowerCase(), created);
    return created;
  }

  /** Indexed (a 50,000-app tenant has as many service principals); falls back to a scan after direct edits. */
  servicePrincipalByAppId(appId: string): SimServicePrincipal | undefined {
    const key = appId.toLowerCase();
    const indexed = this.spByAppId.get(key);
    if (indexed && this.servicePrincipals.get(indexed.id) === indexed) return indexed;
    // A miss needs no scan while the index and the map agree (seeding 50,000 apps must stay linear).
    if (!indexed && this.spByAppId.size === this.servicePrincipals.size) return undefined;
    for (const sp of this.servicePrincipals.values()) {
      if (sp.appId.toLowerCase() === key) {
        this.spByAppId.set(key, sp);
        return sp;
      }
    }
    this.spByAppId.delete(key);
    return undefined;
  }

  /** Turns a Conditional Access block on (or off) for one app. */
  blockByConditionalAccess(appId: string, blocked = true): void {
    if (blocked) this.conditionalAccessBlocked.add(appId.toLowerCase());
    else this.conditionalAccessBlocked.delete(appId.toLowerCase());
  }

  /** Deletes an app's service principal (the app can no longer sign in: AADSTS7000229). */
  removeServicePrincipal(appId: string): boolean {
    const sp = this.servicePrincipalByAppId(appId);
    if (!sp) return false;
    this.servicePrincipals.delete(sp.id);
    this.spByAppId.delete(appId.toLowerCase());
    return true;
  }

  addApplication(a: NewApplication): SimApplication {
    const app: SimApplication = {
      id: randomUUID(),
      appId: a.appId ?? randomUUID(),
      displayName: a.displayName,
      tags: a.tags ?? [],
      signInAudience: a.signInAudience ?? 'AzureADMyOrg',
      createdDateTime: graphTime(this.clock.now()),
      passwordCredentials: [],
      keyCredentials: [],
      ownerIds: a.ownerIds ?? [],
    };
    for (const p of a.passwords ?? []) {
      this.issuePassword(app, {
        displayName: p.displayName ?? null,
        startDateTime: p.startDateTime,
        endDateTime: p.endDateTime,
        replicated: true,
      });
    }
    for (const c of a.certificates ?? []) {
      app.keyCredentials.push({
        keyId: randomUUID(),
        displayName: c.displayName ?? null,
        type: 'AsymmetricX509Cert',
        usage: 'Verify',
        startDateTime: graphTime(c.startDateTime),
        endDateTime: graphTime(c.endDateTime),
        customKeyIdentifier: randomBytes(20).toString('hex').toUpperCase(),
      });
    }
    this.applications.set(app.id, app);
    this.byAppId.set(app.appId.toLowerCase(), app);
    if (a.servicePrincipal ?? this.servicePrincipalsByDefault) {
      this.addServicePrincipal({ displayName: app.displayName, appId: app.appId });
    }
    if (a.conditionalAccessBlocked) this.blockByConditionalAccess(app.appId);
    return app;
  }

  /** Indexed: the benchmark's 50,000-app tenants must not measure the simulator's own scans. */
  applicationByAppId(appId: string): SimApplication | undefined {
    return this.byAppId.get(appId.toLowerCase());
  }

  /** Deletes an app registration (an administrator in the portal): Graph and sign-in no longer find it. */
  deleteApplication(objectId: string): boolean {
    const app = this.applications.get(objectId);
    if (!app) return false;
    this.applications.delete(objectId);
    this.byAppId.delete(app.appId.toLowerCase());
    return true;
  }

  /** Adds a password the way Entra does (server-generated keyId and secret). Policy checks are Graph's job. */
  issuePassword(
    app: SimApplication,
    p: { displayName: string | null; startDateTime?: Date; endDateTime?: Date; replicated?: boolean },
  ): SimPasswordCredential {
    const start = p.startDateTime ?? this.clock.now();
    const end = p.endDateTime ?? new Date(start.getTime() + 2 * 365 * DAY);
    const secretText = newSecretText();
    const cred: SimPasswordCredential = {
      keyId: randomUUID(),
      displayName: p.displayName,
      startDateTime: graphTime(start),
      endDateTime: graphTime(end),
      hint: secretText.slice(0, 3),
      customKeyIdentifier: null,
      secretText,
      createdAt: p.replicated ? 0 : this.clock.nowMs(),
    };
    app.passwordCredentials.push(cred);
    this.issuedSecrets.push(secretText);
    return cred;
  }

  /** Gives a service principal (e.g. the rotator running on-premises) a client secret of its own. */
  issueServicePrincipalSecret(sp: SimServicePrincipal): string {
    const secret = newSecretText();
    this.spSecrets.set(sp.appId, secret);
    this.issuedSecrets.push(secret);
    return secret;
  }

  /**
   * Client-credentials check, in the token endpoint's order: the application (AADSTS700016), its service
   * principal in this tenant (AADSTS7000229), the secret (current and replicated: AADSTS7000215; unexpired:
   * AADSTS7000222), then Conditional Access (AADSTS53003, which only a caller with the right secret sees).
   */
  authenticate(
    clientId: string,
    secret: string,
    now = this.clock.nowMs(),
  ): AuthFailure | { ok: true; appId: string } {
    const spSecret = this.spSecrets.get(clientId);
    if (spSecret !== undefined) {
      return spSecret === secret
        ? { ok: true, appId: clientId }
        : {
            code: 'AADSTS7000215',
            message:
              'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app ' +
              `'${clientId}'.`,
          };
    }
    const app = this.applicationByAppId(clientId);
    if (!app) {
      return {
        code: 'AADSTS700016',
        message: `Application with identifier '${clientId}' was not found in the directory '${this.tenantId}'.`,
      };
    }
    if (!this.servicePrincipalByAppId(app.appId)) {
      return {
        code: 'AADSTS7000229',
        message:
          `The client application ${app.appId} is missing service principal in the tenant ${this.tenantId}. ` +
          'See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119',
      };
    }
    const cred = app.passwordCredentials.find((c) => c.secretText === secret);
    if (!cred || (cred.createdAt > 0 && now < cred.createdAt + this.replicationDelayMs)) {
      return {
        code: 'AADSTS7000215',
        message:
          'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, ' +
          `not the client secret ID, for a secret added to app '${clientId}'.`,
      };
    }
    if (Date.parse(cred.endDateTime) <= now || Date.parse(cred.startDateTime) > now) {
      return {
        code: 'AADSTS7000222',
        message: `The provided client secret keys for app '${clientId}' are expired. Visit the Azure portal to create new keys for your app.`,
      };
    }
    if (this.conditionalAccessBlocked.has(app.appId.toLowerCase())) {
      return {
        code: 'AADSTS53003',
        message:
          'Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.',
      };
    }
    return { ok: true, appId: app.appId };
  }
}
