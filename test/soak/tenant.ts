// The soak's tenant: a few hundred app registrations drawn from every shape the product meets, and the things
// people do to a tenant over a year (apps added and deleted, owners who come and go, a person adding a secret by
// hand, the lifetime policy tightened). Everything is drawn from the seeded Rng; the simulator's own ids are random.
import { ROTATOR_PREFIX } from '../../src/rotation/checks.js';
import { defaultSecretName } from '../../src/rotation/policy.js';
import type { SimCloud } from '../sim/cloud.js';
import type { NewApplication, SimApplication, SimUser } from '../sim/tenant.js';
import type { Rng } from './rng.js';

export const DAY = 86_400_000;

/** The shapes, with how often each is drawn. */
export const SHAPES = {
  'person-one': 20,
  'person-several': 8,
  'rotator-managed': 14,
  mixed: 6,
  expired: 5,
  'personal-room': 4,
  'personal-rotator': 4,
  'personal-full': 2,
  tagged: 14,
  'notify-tag': 4,
  disabled: 4,
  'not-owned': 4,
  'certificate-only': 3,
  'no-service-principal': 3,
  // Never drawn by default: rotator-managed apps already inside the renewal window, for a test that needs a rotation
  // of a rotator-made secret on day 0 (the broken variant that retires superseded secrets at once).
  'rotator-due': 0,
} as const;
export type Shape = keyof typeof SHAPES;

/** What the soak knows about an app beyond the simulator's state. */
export interface TrackedApp {
  shape: Shape;
  objectId: string;
  appId: string;
  displayName: string;
  secretName: string;
  /** Day the app entered the tenant (0 for the initial tenant). */
  addedDay: number;
  deletedDay?: number;
}

export interface TenantModel {
  apps: Map<string, TrackedApp>;
  users: SimUser[];
  /** Every credential ever made by people, per app object id (the soak knows which ones it removed itself). */
  personKeyIds: Map<string, Set<string>>;
  /** Shapes drawn (weights), when a test narrows them; otherwise every shape. */
  only?: Partial<Record<Shape, number>>;
}

const WORDS = [
  'Payroll',
  'Intranet',
  'Billing',
  'Orders',
  'Inventory',
  'Reports',
  'Portal',
  'Search',
  'Gateway',
  'Ledger',
  'Expenses',
  'Rewards',
  'Shipping',
  'Catalog',
  'Support',
  'Analytics',
  'Backup',
  'Sync',
  'Mobile',
  'Partner',
];

/** Whether this simulator build can register an app without a service principal (test/sim/tenant.ts option). */
export function supportsNoServicePrincipal(cloud: SimCloud): boolean {
  return (
    typeof (cloud.tenant as unknown as { removeServicePrincipal?: unknown }).removeServicePrincipal ===
    'function'
  );
}

export function createOwners(cloud: SimCloud, rng: Rng, count: number): SimUser[] {
  const users: SimUser[] = [];
  for (let i = 0; i < count; i++) {
    const name = `owner${i}`;
    // One in eight has no mail attribute: the product falls back to the userPrincipalName.
    const noMail = rng.chance(0.125);
    users.push(
      cloud.tenant.addUser({
        displayName: `Owner ${i}`,
        mail: noMail ? null : `${name}@contoso.com`,
        userPrincipalName: `${name}@contoso.com`,
      }),
    );
  }
  return users;
}

/** Draws one app of `shape` and adds it to the tenant (and its rotator-made history to Key Vault). */
export function addApp(cloud: SimCloud, rng: Rng, model: TenantModel, shape: Shape, day: number): TrackedApp {
  const now = cloud.clock.nowMs();
  const at = (days: number) => new Date(now + days * DAY);
  const userOwners = Array.from({ length: rng.int(0, 3) }, () => rng.pick(model.users).id);
  const owners = [...new Set(userOwners)];
  const ownerIds = shape === 'not-owned' ? owners : [cloud.rotator.id, ...owners];
  const person = (endsIn: number) => ({
    displayName: rng.chance(0.5) ? 'created in the portal' : null,
    startDateTime: at(endsIn - rng.int(90, 720)),
    endDateTime: at(endsIn),
  });
  const rotatorMade = (endsIn: number, lifetime = 180) => ({
    displayName: `${ROTATOR_PREFIX} seeded`,
    startDateTime: at(endsIn - lifetime),
    endDateTime: at(endsIn),
  });
  const spread = () => rng.int(-10, 400);
  const tags: string[] = [];
  let passwords: NonNullable<NewApplication['passwords']> = [];
  let certificates: NewApplication['certificates'];
  let signInAudience: NewApplication['signInAudience'];
  let servicePrincipal = true;
  /** How many of the passwords (the last ones) are rotator-made and stored in Key Vault, oldest first. */
  let stored = 0;

  switch (shape) {
    case 'person-one':
    case 'disabled':
    case 'not-owned':
      passwords = [person(shape === 'person-one' ? spread() : rng.int(-5, 60))];
      if (shape === 'disabled') tags.push('rotation:disabled');
      break;
    case 'person-several':
      passwords = Array.from({ length: rng.int(2, 3) }, () => person(spread()));
      break;
    case 'rotator-managed':
    case 'rotator-due': {
      const current = shape === 'rotator-due' ? rng.int(5, 20) : rng.int(1, 180);
      passwords = rng.chance(0.5)
        ? [rotatorMade(current)]
        : [rotatorMade(current - 150), rotatorMade(current)];
      stored = passwords.length;
      break;
    }
    case 'mixed': {
      passwords = [person(rng.int(-30, 200)), rotatorMade(rng.int(1, 180))];
      stored = 1;
      break;
    }
    case 'expired':
      passwords = Array.from({ length: rng.int(1, 2) }, () => person(-rng.int(1, 60)));
      break;
    case 'personal-room':
      signInAudience = 'AzureADandPersonalMicrosoftAccount';
      passwords = [person(spread())];
      break;
    case 'personal-rotator': {
      signInAudience = 'AzureADandPersonalMicrosoftAccount';
      const current = rng.int(1, 180);
      passwords = [rotatorMade(current - 150), rotatorMade(current)];
      stored = 2;
      break;
    }
    case 'personal-full':
      // Two people's passwords: no room, and the rotator never removes a person's; it must say so every run.
      signInAudience = 'AzureADandPersonalMicrosoftAccount';
      passwords = [person(rng.int(20, 400)), person(rng.int(20, 400))];
      break;
    case 'tagged': {
      // Windows of at least 14 days and lifetimes at least 30 days longer: every rotation keeps a week of overlap
      // even after a day or two of faults, and never comes due again at once.
      const renew = rng.pick([14, 21, 30, 45, 60]);
      const lifetime = rng.pick([30, 60, 90, 180, 365].filter((l) => l >= renew + 30));
      if (rng.chance(0.8)) tags.push(`rotation:renewBeforeDays=${renew}`);
      if (rng.chance(0.8)) tags.push(`rotation:lifetimeDays=${lifetime}`);
      if (rng.chance(0.3)) tags.push(`rotation:secretName=soak-${rng.hex(12)}`);
      passwords = [person(spread())];
      break;
    }
    case 'notify-tag':
      tags.push(`rotation:notify=team-${rng.int(1, 5)}@contoso.com`);
      passwords = [person(spread())];
      break;
    case 'certificate-only':
      certificates = [{ displayName: 'cert', startDateTime: at(-100), endDateTime: at(rng.int(10, 300)) }];
      break;
    case 'no-service-principal':
      servicePrincipal = false;
      passwords = [person(rng.int(-5, 200))];
      break;
  }

  const displayName = `${rng.pick(WORDS)} ${rng.pick(WORDS)} ${shape} ${rng.hex(4)}`;
  const app: SimApplication = cloud.tenant.addApplication({
    displayName,
    tags,
    ownerIds,
    passwords,
    certificates,
    signInAudience,
    ...(servicePrincipal ? {} : { servicePrincipal: false }),
  } as NewApplication);
  if (!servicePrincipal) {
    // Older simulator builds ignore the option: take the service principal away by hand.
    (
      cloud.tenant as unknown as { removeServicePrincipal?: (appId: string) => boolean }
    ).removeServicePrincipal?.(app.appId);
  }
  const secretTag = tags.find((t) => t.startsWith('rotation:secretName='));
  const secretName = secretTag
    ? secretTag.slice('rotation:secretName='.length)
    : defaultSecretName(app.appId);
  // The rotator-made secrets of earlier years reached Key Vault, oldest first: the newest version is current.
  for (const c of app.passwordCredentials.slice(app.passwordCredentials.length - stored))
    cloud.vault.seed(secretName, c.secretText, {
      tags: { appId: app.appId, keyId: c.keyId },
      notBefore: new Date(c.startDateTime),
      expiresOn: new Date(c.endDateTime),
      createdOn: new Date(c.startDateTime),
    });
  const tracked: TrackedApp = {
    shape,
    objectId: app.id,
    appId: app.appId,
    displayName,
    secretName,
    addedDay: day,
  };
  model.apps.set(app.id, tracked);
  model.personKeyIds.set(
    app.id,
    new Set(app.passwordCredentials.filter((c) => !isRotatorMadeName(c.displayName)).map((c) => c.keyId)),
  );
  return tracked;
}

export const isRotatorMadeName = (displayName: string | null) =>
  (displayName ?? '').startsWith(ROTATOR_PREFIX);

export function createTenant(
  cloud: SimCloud,
  rng: Rng,
  apps: number,
  only?: Partial<Record<Shape, number>>,
): TenantModel {
  const model: TenantModel = {
    apps: new Map(),
    users: createOwners(cloud, rng, 40),
    personKeyIds: new Map(),
    only,
  };
  const shapes = availableShapes(cloud, only);
  for (let i = 0; i < apps; i++) addApp(cloud, rng, model, rng.weighted(shapes), 0);
  return model;
}

export function availableShapes(
  cloud: SimCloud,
  only?: Partial<Record<Shape, number>>,
): Record<Shape, number> {
  const shapes: Record<Shape, number> = only
    ? (Object.fromEntries(Object.keys(SHAPES).map((k) => [k, only[k as Shape] ?? 0])) as Record<
        Shape,
        number
      >)
    : { ...SHAPES };
  if (!supportsNoServicePrincipal(cloud)) shapes['no-service-principal'] = 0;
  return shapes;
}

/** What happened to the tenant on one day, for the log. */
export interface TenantEvents {
  added: number;
  deleted: number;
  ownersAdded: number;
  ownersRemoved: number;
  personSecrets: number;
  policy?: string;
}

/**
 * People at work, before the day's run: an app added now and then, one deleted, owners joining and leaving, a person
 * adding a secret by hand. `policyDay`: the tenant's app-management policy starts capping password lifetimes at 90
 * days that day (the product must shorten new secrets and still keep them rotating in time).
 */
export function applyEvents(
  cloud: SimCloud,
  rng: Rng,
  model: TenantModel,
  day: number,
  policyDay: number,
): TenantEvents {
  const ev: TenantEvents = { added: 0, deleted: 0, ownersAdded: 0, ownersRemoved: 0, personSecrets: 0 };
  const t = cloud.tenant;
  if (day === policyDay) {
    t.passwordLifetimeMaxDays = 90;
    ev.policy = 'password lifetime capped at 90 days';
  }
  if (rng.chance(0.3)) {
    addApp(cloud, rng, model, rng.weighted(availableShapes(cloud, model.only)), day);
    ev.added++;
  }
  const live = [...model.apps.values()].filter((a) => a.deletedDay === undefined);
  if (live.length > 10 && rng.chance(0.2)) {
    const gone = rng.pick(live);
    deleteApplication(cloud, gone.objectId);
    gone.deletedDay = day;
    ev.deleted++;
  }
  for (let i = rng.int(0, 2); i > 0; i--) {
    const app = t.applications.get(rng.pick(live).objectId);
    if (!app) continue;
    const users = app.ownerIds.filter((id) => t.users.has(id));
    if (users.length && rng.chance(0.5)) {
      app.ownerIds = app.ownerIds.filter((id) => id !== rng.pick(users));
      ev.ownersRemoved++;
    } else {
      const u = rng.pick(model.users).id;
      if (!app.ownerIds.includes(u)) {
        app.ownerIds.push(u);
        ev.ownersAdded++;
      }
    }
  }
  if (rng.chance(0.1)) {
    // Someone adds a secret in the portal (not on two-password apps that are full).
    const app = t.applications.get(rng.pick(live).objectId);
    const tracked = app && model.apps.get(app.id);
    if (app && tracked && !tracked.shape.startsWith('personal') && app.passwordCredentials.length < 4) {
      const c = t.issuePassword(app, {
        displayName: 'added by hand',
        endDateTime: new Date(cloud.clock.nowMs() + rng.int(30, 365) * DAY),
        replicated: true,
      });
      model.personKeyIds.get(app.id)?.add(c.keyId);
      ev.personSecrets++;
    }
  }
  return ev;
}

/** Deletes an app registration as an administrator would (the simulator has no Graph route the product uses). */
export function deleteApplication(cloud: SimCloud, objectId: string): void {
  cloud.tenant.deleteApplication(objectId);
}
