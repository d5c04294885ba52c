// Tenants to run against: a small demo tenant with an app in every state the rotator must handle, and a
// large tenant for the benchmark. Pure functions of a started cloud: they only fill its directory.
import type { SimCloud } from './cloud.js';
import type { SimApplication, SimUser } from './tenant.js';

const DAY = 86_400_000;

export interface DemoTenant {
  users: {
    /** Owners with a mailbox (`mail` set). */
    alice: SimUser;
    bob: SimUser;
    carol: SimUser;
    /** No `mail`; the userPrincipalName is an address (the rotator mails that). */
    dave: SimUser;
    /** No `mail` and a userPrincipalName that is not an address: cannot be told. */
    erin: SimUser;
  };
  apps: {
    /** One secret expiring in 10 days. */
    due: SimApplication;
    /** Every secret has expired. */
    expired: SimApplication;
    /** One secret expiring in 200 days. */
    upToDate: SimApplication;
    /** An old secret expiring in 5 days and a newer one in 300 days (the newest is current). */
    twoSecrets: SimApplication;
    /** `rotation:disabled`, with a due secret. */
    disabled: SimApplication;
    /** `rotation:renewBeforeDays=soon`, with a due secret. */
    malformedTag: SimApplication;
    /** `rotation:lifetimedays=90` (a typo of lifetimeDays), with a due secret. */
    unknownTag: SimApplication;
    /** `rotation:secretName=payroll-api-client-secret` and `rotation:notify=secops@contoso.com`, due. */
    customName: SimApplication;
    /** A certificate only, no client secret. */
    certificateOnly: SimApplication;
    /** Personal-account audience (at most 2 passwords): a person's expired secret and a due one. */
    personal: SimApplication;
    /** A display name full of markup, due (mail templates must escape it). */
    hostile: SimApplication;
    /** Due, but the rotator is not an owner: out of the `owned` scope. */
    notOwned: SimApplication;
    /**
     * Only with `{ withoutServicePrincipal: true }`: owned and due, but the tenant holds no service principal for
     * it (registered with `az ad app create` or plain Graph), so no new secret of it can sign in (AADSTS7000229).
     */
    noServicePrincipal?: SimApplication;
  };
}

export interface DemoTenantOptions {
  /** Adds `apps.noServicePrincipal` (opt-in: existing tests count the demo tenant's apps). */
  withoutServicePrincipal?: boolean;
}

export function seedDemoTenant(
  cloud: SimCloud,
  now = cloud.clock.now(),
  opts: DemoTenantOptions = {},
): DemoTenant {
  const t = cloud.tenant;
  const at = (days: number) => new Date(now.getTime() + days * DAY);
  // A secret made `ageDays` ago that ends `endsInDays` from now (negative: already expired).
  const secret = (
    endsInDays: number,
    ageDays = 365,
    displayName: string | null = 'created in the portal',
  ) => ({
    displayName,
    startDateTime: at(-ageDays),
    endDateTime: at(endsInDays),
  });

  const users = {
    alice: t.addUser({
      displayName: 'Alice Martin',
      mail: 'alice@contoso.com',
      userPrincipalName: 'alice@contoso.com',
    }),
    bob: t.addUser({
      displayName: 'Bob Chen',
      mail: 'bob@contoso.com',
      userPrincipalName: 'bob@contoso.com',
    }),
    carol: t.addUser({
      displayName: 'Carol Okafor',
      mail: 'carol.okafor@contoso.com',
      userPrincipalName: 'carol@contoso.com',
    }),
    dave: t.addUser({
      displayName: 'Dave Novak',
      mail: null,
      userPrincipalName: 'dave@contoso.onmicrosoft.com',
    }),
    erin: t.addUser({ displayName: 'Erin (no mailbox)', mail: null, userPrincipalName: 'erin-no-mailbox' }),
  };
  const rotator = cloud.rotator.id;
  const owned = (...owners: SimUser[]) => [rotator, ...owners.map((u) => u.id)];

  const apps: DemoTenant['apps'] = {
    due: t.addApplication({
      displayName: 'Contoso Intranet',
      ownerIds: owned(users.alice, users.bob),
      passwords: [secret(10)],
    }),
    expired: t.addApplication({
      displayName: 'Expense Reports',
      ownerIds: owned(users.bob),
      passwords: [secret(-40, 400), secret(-3, 200)],
    }),
    upToDate: t.addApplication({
      displayName: 'HR Portal',
      ownerIds: owned(users.carol),
      passwords: [secret(200, 165)],
    }),
    twoSecrets: t.addApplication({
      displayName: 'Inventory Service',
      ownerIds: owned(users.alice, users.dave),
      passwords: [secret(5, 360), secret(300, 60)],
    }),
    disabled: t.addApplication({
      displayName: 'Legacy Fax Gateway',
      tags: ['rotation:disabled'],
      ownerIds: owned(users.dave),
      passwords: [secret(8)],
    }),
    malformedTag: t.addApplication({
      displayName: 'Warehouse Scanner',
      tags: ['rotation:renewBeforeDays=soon'],
      ownerIds: owned(users.carol),
      passwords: [secret(12)],
    }),
    unknownTag: t.addApplication({
      displayName: 'Travel Booking',
      tags: ['rotation:lifetimedays=90'],
      ownerIds: owned(users.bob),
      passwords: [secret(15)],
    }),
    customName: t.addApplication({
      displayName: 'Payroll API',
      tags: ['rotation:secretName=payroll-api-client-secret', 'rotation:notify=secops@contoso.com'],
      ownerIds: owned(users.alice),
      passwords: [secret(20)],
    }),
    certificateOnly: t.addApplication({
      displayName: 'Build Agent',
      ownerIds: owned(users.erin),
      certificates: [{ displayName: 'CN=build-agent', startDateTime: at(-100), endDateTime: at(265) }],
    }),
    personal: t.addApplication({
      displayName: 'Contoso Rewards App',
      signInAudience: 'AzureADandPersonalMicrosoftAccount',
      ownerIds: owned(users.carol, users.erin),
      passwords: [secret(-20, 385), secret(10, 170)],
    }),
    hostile: t.addApplication({
      displayName: '<img src=x onerror=alert(1)> Legacy "CRM" & Co',
      ownerIds: owned(users.dave, users.erin),
      passwords: [secret(6)],
    }),
    notOwned: t.addApplication({
      displayName: 'Marketing Site',
      ownerIds: [users.bob.id],
      passwords: [secret(9)],
    }),
  };
  if (opts.withoutServicePrincipal) {
    apps.noServicePrincipal = t.addApplication({
      displayName: 'Partner Sync (no service principal)',
      ownerIds: owned(users.bob),
      passwords: [secret(11)],
      servicePrincipal: false,
    });
  }
  return { users, apps };
}

export interface LargeTenantOptions {
  apps: number;
  /** Share of apps whose secret expires within 30 days (default 5). */
  duePercent?: number;
  /** Number of users owners are drawn from (default 200). */
  ownerPool?: number;
  now?: Date;
  /** Seed of the pseudo-random spread, so runs are comparable (default 1). */
  seed?: number;
  /** Share of apps registered without a service principal in the tenant (default 0): they cannot sign in. */
  noServicePrincipalPercent?: number;
}

export interface LargeTenant {
  apps: SimApplication[];
  /** appIds of the apps seeded as due. */
  dueAppIds: string[];
  /** appIds of the apps seeded without a service principal. */
  noServicePrincipalAppIds: string[];
  users: SimUser[];
}

/** N owned apps with one secret each; `duePercent` of them expire within 30 days, the rest in 60-700 days. */
export function seedLargeTenant(cloud: SimCloud, opts: LargeTenantOptions): LargeTenant {
  const { apps: count, duePercent = 5, ownerPool = 200, now = cloud.clock.now(), seed = 1 } = opts;
  const noSpShare = (opts.noServicePrincipalPercent ?? 0) / 100;
  const t = cloud.tenant;
  const random = mulberry32(seed);
  const users: SimUser[] = [];
  for (let i = 0; i < Math.max(1, ownerPool); i++) {
    const name = `user${String(i + 1).padStart(4, '0')}`;
    users.push(
      t.addUser({
        displayName: `User ${i + 1}`,
        mail: `${name}@contoso.com`,
        userPrincipalName: `${name}@contoso.com`,
      }),
    );
  }
  const dueCount = Math.round((count * duePercent) / 100);
  // Spread the due apps evenly through the list rather than bunching them at the start.
  const dueEvery = dueCount > 0 ? count / dueCount : Infinity;
  const apps: SimApplication[] = [];
  const dueAppIds: string[] = [];
  const noServicePrincipalAppIds: string[] = [];
  let nextDue = 0;
  for (let i = 0; i < count; i++) {
    const due = dueAppIds.length < dueCount && i >= nextDue;
    if (due) nextDue += dueEvery;
    const endsInDays = due ? 1 + random() * 29 : 60 + random() * 640;
    const owners = [users[Math.floor(random() * users.length)]!.id];
    if (random() < 0.3) owners.push(users[Math.floor(random() * users.length)]!.id);
    // A separate draw only when asked, so existing seeds keep their exact spread.
    const servicePrincipal = !(noSpShare > 0 && random() < noSpShare);
    const app = t.addApplication({
      displayName: `Service ${String(i + 1).padStart(5, '0')}`,
      ownerIds: [cloud.rotator.id, ...new Set(owners)],
      passwords: [
        {
          displayName: 'created in the portal',
          startDateTime: new Date(now.getTime() - 30 * DAY),
          endDateTime: new Date(now.getTime() + endsInDays * DAY),
        },
      ],
      servicePrincipal,
    });
    apps.push(app);
    if (due) dueAppIds.push(app.appId);
    if (!servicePrincipal) noServicePrincipalAppIds.push(app.appId);
  }
  return { apps, dueAppIds, noServicePrincipalAppIds, users };
}

/** Small deterministic PRNG (0 <= x < 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
