// The soak's invariants, read from the SIMULATOR's state (the tenant, the vault, the mailbox), never from what the
// product reports about itself; the report is consulted only where the contract makes it the signal (an app that
// cannot be rotated must be reported failed every run). Each violation names the day, the app and the invariant.
import { gunzipSync } from 'node:zlib';
import { PENDING_SECRET_NAME } from '../../src/notify/pending.js';
import { ROTATOR_PREFIX } from '../../src/rotation/checks.js';
import type { RunOutcome } from './product.js';
import type { SimCloud } from '../sim/cloud.js';
import type { SimApplication, SimPasswordCredential } from '../sim/tenant.js';
import { DAY, isRotatorMadeName, type TenantModel, type TrackedApp } from './tenant.js';

export const INVARIANTS = [
  'consumers-never-break',
  'renewed-in-time',
  'stuck-app-reported-failed',
  'at-most-3-rotator-credentials',
  'no-old-orphans',
  'persons-never-removed',
  'retired-too-early',
  'out-of-scope-untouched',
  'no-service-principal-untouched',
  'kv-one-version-per-rotation',
  'told-once',
  'state-bounded',
  'no-secret-leaked',
] as const;
export type Invariant = (typeof INVARIANTS)[number];

export interface Violation {
  day: number;
  app: string;
  appId: string;
  invariant: Invariant;
  detail: string;
}

export const describeViolation = (v: Violation) =>
  `day ${v.day}, app "${v.app}"${v.appId ? ` (${v.appId})` : ''}: ${v.invariant}: ${v.detail}`;

export interface CheckerOptions {
  retireAfterDays: number;
  renewBeforeDays: number;
  notifyAlso: string[];
  /** A rotation's owners must have their email within this many days (ACS outages hold notices a day or so). */
  toldWithinDays: number;
  /** Key Vault refuses values over 25 KB: the rotator's own state must stay under it. */
  maxStateBytes: number;
}

/** A rotation as the vault shows it: a new version of the app's secret. */
interface Rotation {
  day: number;
  objectId: string;
  appId: string;
  app: string;
  keyId: string;
  recipients: string[];
  /** Of the recipients, the app's owners on the rotation day. */
  owners: string[];
  checked: boolean;
  /** The day's run was killed (after storing this secret): its notices died with it. */
  killed: boolean;
}

interface Snapshot {
  /** When the day's run started (the cloud's clock). */
  at: number;
  keyIds: Map<string, Map<string, SimPasswordCredential>>;
  versions: Map<string, number>;
  latestKeyId: Map<string, string | undefined>;
}

/** Said of a notice lost because the run was killed between storing the secret and sending the digest. */
export const KILLED_NOTE =
  ' (the run was killed that day after storing the secret: its notices died with it)';
const STUCK_SHAPES = new Set(['personal-full', 'no-service-principal']);
// A certificate-only app is outside the scope only while it has no client secret: once a person adds one by hand
// (applyEvents), it is in scope like any other (its state decides, in inScope).
const OUT_OF_SCOPE_SHAPES = new Set(['disabled', 'not-owned']);
const end = (c: { endDateTime: string }) => Date.parse(c.endDateTime);
const days = (ms: number) => Math.round((ms / DAY) * 10) / 10;

/**
 * Whom a rotation must have reached: every recipient, except an owner who is no longer one (removed from the app, or
 * the app deleted, before being told). The product tells the owners it finds when it sends, and must not tell someone
 * who has lost the app: a held or taken-over notice is sent a day or more after its rotation.
 */
export function recipientsStillOwed(
  r: Pick<Rotation, 'recipients' | 'owners'>,
  currentOwners: readonly string[],
): string[] {
  return r.recipients.filter((to) => !r.owners.includes(to) || currentOwners.includes(to));
}

export class Checker {
  readonly violations: Violation[] = [];
  checks = 0;
  rotations = 0;
  worstOverlapDays = Number.POSITIVE_INFINITY;
  maxRotatorCredentials = 0;
  maxStateBytes = 0;
  /** The pending store as its notices are (it is stored gzipped, format v2): its largest plain size and count. */
  maxPendingPlainBytes = 0;
  maxPendingNotices = 0;
  private readonly pending: Rotation[] = [];
  /** Times each recipient was told about each new keyId, from the simulated ACS. */
  private readonly told = new Map<string, number>();
  private mailSeen = 0;
  private snapshot: Snapshot | undefined;
  /** Apps found without room to rotate: stuck until their next rotation (their secret may expire in use meanwhile). */
  private readonly noRoom = new Set<string>();

  constructor(
    private readonly cloud: SimCloud,
    private readonly model: TenantModel,
    private readonly opts: CheckerOptions,
  ) {}

  private fail(day: number, app: TrackedApp | undefined, invariant: Invariant, detail: string): void {
    this.violations.push({ day, app: app?.displayName ?? '', appId: app?.appId ?? '', invariant, detail });
  }

  private check(
    holds: boolean,
    day: number,
    app: TrackedApp | undefined,
    invariant: Invariant,
    detail: () => string,
  ) {
    this.checks++;
    if (!holds) this.fail(day, app, invariant, detail());
  }

  /** Apps the soak tracks that still exist, with their simulator state. */
  private *live(): Generator<[TrackedApp, SimApplication]> {
    for (const t of this.model.apps.values()) {
      const app = this.cloud.tenant.applications.get(t.objectId);
      if (app) yield [t, app];
    }
  }

  /** In the rotation scope, from the simulator's state: owned by the rotator, not disabled, with client secrets. */
  private inScope(t: TrackedApp, app: SimApplication): boolean {
    return (
      app.ownerIds.includes(this.cloud.rotator.id) &&
      !app.tags.includes('rotation:disabled') &&
      app.passwordCredentials.length > 0 &&
      !OUT_OF_SCOPE_SHAPES.has(t.shape)
    );
  }

  private renewBefore(app: SimApplication): number {
    const tag = app.tags.find((t) => t.startsWith('rotation:renewBeforeDays='));
    return tag ? Number(tag.split('=')[1]) : this.opts.renewBeforeDays;
  }

  /** §7's current secret, from the simulator: the one Key Vault's latest version points to, else the valid one expiring last. */
  private current(t: TrackedApp, app: SimApplication, now: number) {
    const latestKeyId = this.cloud.vault.latest(t.secretName)?.tags.keyId;
    const valid = app.passwordCredentials.filter((c) => end(c) > now);
    return valid.find((c) => c.keyId === latestKeyId) ?? [...valid].sort((a, b) => end(b) - end(a))[0];
  }

  /**
   * An app the rotator cannot rotate: a stuck shape, or a personal-account app (two passwords at most) whose two
   * slots hold a person's credential and the rotator's current one. The rotator never removes a person's credential
   * nor its current one, so it has no room (contract §7) and must report the app failed on every run (and email it);
   * its secret then expires in use, as nothing else can be done without a person removing a secret by hand.
   */
  private stuck(t: TrackedApp, app: SimApplication, now: number): boolean {
    if (STUCK_SHAPES.has(t.shape)) return true;
    const personal =
      app.signInAudience === 'AzureADandPersonalMicrosoftAccount' ||
      app.signInAudience === 'PersonalMicrosoftAccount';
    const current = this.current(t, app, now);
    const full =
      personal &&
      app.passwordCredentials.length >= 2 &&
      !app.passwordCredentials.some((c) => isRotatorMadeName(c.displayName) && c.keyId !== current?.keyId);
    if (full) this.noRoom.add(t.objectId);
    return this.noRoom.has(t.objectId);
  }

  /** consumers-never-break: the latest Key Vault version holds a credential that exists, has not expired and is that value. */
  private checkConsumers(day: number, t: TrackedApp, app: SimApplication, now: number): void {
    const latest = this.cloud.vault.latest(t.secretName);
    if (!latest?.tags.keyId) return;
    const cred = app.passwordCredentials.find((c) => c.keyId === latest.tags.keyId);
    this.check(
      !!cred && end(cred) > now && cred.secretText === latest.value,
      day,
      t,
      'consumers-never-break',
      () =>
        `Key Vault ${t.secretName} (latest version) holds credential ${latest.tags.keyId}, which ` +
        (!cred
          ? 'was removed'
          : end(cred) <= now
            ? `expired ${days(now - end(cred))} days ago`
            : 'is another value'),
    );
  }

  /** At the start of a day, once the clock moved: consumers still hold a working secret. */
  beforeRun(day: number): void {
    const now = this.cloud.clock.nowMs();
    for (const [t, app] of this.live())
      if (this.inScope(t, app) && !this.stuck(t, app, now)) this.checkConsumers(day, t, app, now);
    const keyIds = new Map<string, Map<string, SimPasswordCredential>>();
    const versions = new Map<string, number>();
    const latestKeyId = new Map<string, string | undefined>();
    for (const [t, app] of this.live()) {
      keyIds.set(t.objectId, new Map(app.passwordCredentials.map((c) => [c.keyId, c])));
      versions.set(t.objectId, this.cloud.vault.versions(t.secretName).length);
      latestKeyId.set(t.objectId, this.current(t, app, now)?.keyId);
    }
    this.snapshot = { at: now, keyIds, versions, latestKeyId };
  }

  /**
   * After the day's run(s). `runs`: how each app ended, as the runs said (a killed run says nothing).
   * `disturbed`: a whole-day outage or a kill, after which an orphan may wait for the next day's run.
   */
  afterRun(day: number, runs: RunOutcome[], disturbed: boolean, killed = false): void {
    const now = this.cloud.clock.nowMs();
    const snap = this.snapshot!;
    const rotatedByReport = new Map<string, number>();
    const failedByReport = new Set<string>();
    const mentionedToday = new Set<string>();
    for (const m of this.cloud.mail.messages.slice(this.mailSeen))
      if (!m.dropped && m.to.some((a) => this.opts.notifyAlso.includes(a.toLowerCase())))
        for (const id of (m.plainText ?? '').matchAll(/Application \(client\) ID: ([0-9a-f-]{36})/g))
          mentionedToday.add(id[1]!.toLowerCase());
    for (const r of runs)
      for (const a of r.apps) {
        if (a.action === 'rotated') rotatedByReport.set(a.appId, (rotatedByReport.get(a.appId) ?? 0) + 1);
        if (a.action === 'failed') failedByReport.add(a.appId.toLowerCase());
      }

    for (const [t, app] of this.live()) {
      const before = snap.keyIds.get(t.objectId) ?? new Map<string, SimPasswordCredential>();
      const keyIds = new Set(app.passwordCredentials.map((c) => c.keyId));
      const versions = this.cloud.vault.versions(t.secretName);
      const stored = new Set(versions.map((v) => v.tags.keyId));
      const rotatorMade = app.passwordCredentials.filter((c) => isRotatorMadeName(c.displayName));

      // Never a person's credential removed.
      for (const k of this.model.personKeyIds.get(t.objectId) ?? [])
        this.check(
          keyIds.has(k),
          day,
          t,
          'persons-never-removed',
          () => `a person's credential ${k} was removed`,
        );

      // At most 3 rotator-made credentials.
      this.maxRotatorCredentials = Math.max(this.maxRotatorCredentials, rotatorMade.length);
      this.check(
        rotatorMade.length <= 3,
        day,
        t,
        'at-most-3-rotator-credentials',
        () => `${rotatorMade.length} rotator-made credentials: ${rotatorMade.map((c) => c.keyId).join(', ')}`,
      );

      // Removed today: a rotator-made credential that reached Key Vault is retired only once superseded long enough.
      for (const [k, c] of before) {
        if (keyIds.has(k) || !isRotatorMadeName(c.displayName) || end(c) <= now || !stored.has(k)) continue;
        // Superseded since the start of the credential whose version came next (the version's notBefore).
        const at = versions.findIndex((v) => v.tags.keyId === k);
        const next = versions.slice(at + 1).find((v) => v.tags.keyId);
        const since = next ? (next.notBefore ?? next.createdOn).getTime() : undefined;
        this.check(
          since !== undefined && now - since >= this.opts.retireAfterDays * DAY - 60 * 60_000,
          day,
          t,
          'retired-too-early',
          () =>
            since === undefined
              ? `credential ${k}, still the one Key Vault points to, was removed`
              : `credential ${k} was removed ${days(now - since)} days after it was superseded (RETIRE_AFTER_DAYS=${this.opts.retireAfterDays})`,
        );
      }

      // Key Vault: exactly one new version per rotation, each for a new rotator-made credential of this app.
      const added = versions.slice(snap.versions.get(t.objectId) ?? 0);
      const addedKeyIds = added.map((v) => v.tags.keyId ?? '');
      const fresh = addedKeyIds.filter((k) => {
        const c = app.passwordCredentials.find((x) => x.keyId === k);
        return !before.has(k) && (!c || isRotatorMadeName(c.displayName));
      });
      this.check(
        new Set(addedKeyIds).size === added.length && fresh.length === added.length && added.length <= 1,
        day,
        t,
        'kv-one-version-per-rotation',
        () =>
          `${added.length} new Key Vault version(s) with keyIds ${addedKeyIds.join(', ') || '(none)'} in ${Math.max(1, runs.length)} run(s)`,
      );
      if (runs.length && !disturbed) {
        const claimed = rotatedByReport.get(t.appId) ?? 0;
        this.check(
          claimed === added.length,
          day,
          t,
          'kv-one-version-per-rotation',
          () => `reported rotated ${claimed} time(s), but Key Vault has ${added.length} new version(s)`,
        );
      }

      if (!this.inScope(t, app)) {
        const made = app.passwordCredentials.filter(
          (c) => !before.has(c.keyId) && isRotatorMadeName(c.displayName),
        );
        const outOfScope =
          OUT_OF_SCOPE_SHAPES.has(t.shape) ||
          !app.ownerIds.includes(this.cloud.rotator.id) ||
          before.size === 0;
        if (outOfScope)
          this.check(
            made.length === 0 && added.length === 0,
            day,
            t,
            'out-of-scope-untouched',
            () =>
              `an app outside the scope got ${made.length} new credential(s) and ${added.length} Key Vault version(s)`,
          );
        continue;
      }

      for (const v of added) this.recordRotation(day, t, app, v.tags.keyId ?? '', snap, now, killed);
      if (added.length) this.noRoom.delete(t.objectId);
      const stuck = this.stuck(t, app, now);
      if (!stuck) this.checkConsumers(day, t, app, now);

      // No orphan older than a day: a rotator-made credential whose secret never reached Key Vault.
      if (!disturbed)
        for (const c of rotatorMade)
          this.check(
            stored.has(c.keyId) || now - Date.parse(c.startDateTime) <= DAY,
            day,
            t,
            'no-old-orphans',
            () =>
              `credential ${c.keyId} never reached Key Vault and is ${days(now - Date.parse(c.startDateTime))} days old`,
          );

      // Renewed in time: the current secret is never left with less than RETIRE_AFTER_DAYS to live.
      const current = this.current(t, app, now);
      const left = current ? end(current) - now : -1;
      // Due when the run started (it decides then; the cloud's clock moves on during the run).
      const dueAtStart = !current || end(current) - snap.at <= this.renewBefore(app) * DAY;
      if (stuck) {
        // It cannot be rotated (no room, no service principal): it must say so on every run while due.
        // Said by the run (its log or answer) or in today's notice to NOTIFY_ALSO (a refusal decided before any
        // change is reported and emailed, not logged); a day with an outage or a kill may hold the notice.
        if (dueAtStart && runs.length && !disturbed)
          this.check(
            failedByReport.has(t.appId.toLowerCase()) || mentionedToday.has(t.appId.toLowerCase()),
            day,
            t,
            'stuck-app-reported-failed',
            () =>
              `the app cannot be rotated and its secret ${current ? `expires in ${days(left)} days` : 'has expired'}, but the run did not report it failed`,
          );
        continue;
      }
      // Apps that arrive already near expiry get three days (one run, plus faults) before the rule applies.
      if (day - t.addedDay < 3) continue;
      this.check(left >= this.opts.retireAfterDays * DAY, day, t, 'renewed-in-time', () =>
        current
          ? `current secret ${current.keyId} expires in ${days(left)} days and no newer secret is in Key Vault`
          : 'no valid secret left',
      );
    }

    this.checkMail(day);
    this.checkState(day);
  }

  private recordRotation(
    day: number,
    t: TrackedApp,
    app: SimApplication,
    keyId: string,
    snap: Snapshot,
    now: number,
    killed: boolean,
  ) {
    this.rotations++;
    // Overlap: how long the secret it replaced still had to live when the new one was stored.
    const old = app.passwordCredentials.find((c) => c.keyId === snap.latestKeyId.get(t.objectId));
    const wasValid = old && end(old) > now;
    if (wasValid && day - t.addedDay >= 3)
      this.worstOverlapDays = Math.min(this.worstOverlapDays, days(end(old) - now));
    const owners = this.ownerAddresses(app);
    const tagged = app.tags
      .filter((x) => x.startsWith('rotation:notify='))
      .flatMap((x) => x.slice('rotation:notify='.length).split(';'))
      .map((a) => a.trim().toLowerCase());
    const recipients = [
      ...new Set([...owners, ...tagged, ...this.opts.notifyAlso.map((a) => a.toLowerCase())]),
    ];
    this.pending.push({
      day,
      objectId: t.objectId,
      appId: t.appId,
      app: t.displayName,
      keyId,
      recipients,
      owners,
      checked: false,
      killed,
    });
  }

  private ownerAddresses(app: SimApplication): string[] {
    return app.ownerIds
      .map((id) => this.cloud.tenant.users.get(id))
      .flatMap((u) => (u ? [(u.mail ?? u.userPrincipalName).toLowerCase()] : []));
  }

  private stillOwed(r: Rotation): string[] {
    const app = this.cloud.tenant.applications.get(r.objectId);
    return recipientsStillOwed(r, app ? this.ownerAddresses(app) : []);
  }

  /** Every rotation told to each recipient exactly once, within a few days (held notices drain after an outage). */
  private checkMail(day: number): void {
    const messages = this.cloud.mail.messages;
    const newlyTold = new Set<string>();
    for (const m of messages.slice(this.mailSeen)) {
      if (m.dropped) continue;
      for (const match of (m.plainText ?? '').matchAll(/New secret: keyId ([0-9a-f-]{36})/g))
        for (const to of new Set([...m.to, ...m.cc, ...m.bcc].map((a) => a.toLowerCase()))) {
          const key = `${match[1]}|${to}`;
          this.told.set(key, (this.told.get(key) ?? 0) + 1);
          newlyTold.add(key);
        }
    }
    this.mailSeen = messages.length;
    for (const r of this.pending) {
      for (const to of r.recipients) {
        const key = `${r.keyId}|${to}`;
        const n = this.told.get(key) ?? 0;
        if (newlyTold.has(key) && n > 1)
          this.fail(
            day,
            this.model.apps.get(r.objectId),
            'told-once',
            `${to} was told about rotation ${r.keyId} ${n} times`,
          );
      }
      if (!r.checked && day - r.day >= this.opts.toldWithinDays) {
        r.checked = true;
        for (const to of this.stillOwed(r))
          this.check(
            (this.told.get(`${r.keyId}|${to}`) ?? 0) >= 1,
            day,
            this.model.apps.get(r.objectId),
            'told-once',
            () =>
              `${to} was not told about rotation ${r.keyId} (day ${r.day}) within ${this.opts.toldWithinDays} days` +
              (r.killed ? KILLED_NOTE : ''),
          );
      }
    }
    // Keep only rotations that may still be told twice for a while (a month covers the held-notice lifetime).
    for (let i = this.pending.length - 1; i >= 0; i--)
      if (day - this.pending[i]!.day > 35) this.pending.splice(i, 1);
  }

  /** The rotator's own state secrets (held notices) stay under Key Vault's 25 KB. */
  private checkState(day: number): void {
    for (const name of this.cloud.vault.names()) {
      if (!name.startsWith(ROTATOR_PREFIX)) continue;
      const value = this.cloud.vault.latest(name)?.value ?? '';
      const bytes = Buffer.byteLength(value);
      this.maxStateBytes = Math.max(this.maxStateBytes, bytes);
      if (name === PENDING_SECRET_NAME) this.measurePending(value);
      this.check(
        bytes <= this.opts.maxStateBytes,
        day,
        undefined,
        'state-bounded',
        () => `Key Vault secret ${name} holds ${bytes} bytes (limit ${this.opts.maxStateBytes})`,
      );
    }
  }

  /** Inflated here, not by the product's decoder: what the stored bytes hold. */
  private measurePending(value: string): void {
    try {
      const outer = JSON.parse(value) as { v?: number; gz?: string };
      const plain =
        outer.v === 2 ? gunzipSync(Buffer.from(outer.gz ?? '', 'base64')).toString('utf8') : value;
      const items = (JSON.parse(plain) as { items?: unknown[] }).items ?? [];
      this.maxPendingPlainBytes = Math.max(this.maxPendingPlainBytes, Buffer.byteLength(plain));
      this.maxPendingNotices = Math.max(this.maxPendingNotices, items.length);
    } catch {
      // Unreadable: the product says so in its run notes; nothing to measure.
    }
  }

  /** §8: an app without a service principal gets no new credential at all (not one added and removed again). */
  addPasswordCalls(day: number, paths: string[]): void {
    for (const t of this.model.apps.values()) {
      if (t.shape !== 'no-service-principal' || t.deletedDay !== undefined) continue;
      const calls = paths.filter((p) => p.includes(t.objectId)).length;
      this.check(
        calls === 0,
        day,
        t,
        'no-service-principal-untouched',
        () => `the app has no service principal, yet the run called addPassword on it ${calls} time(s)`,
      );
    }
  }

  leaks(day: number, where: string[]): void {
    this.checks++;
    for (const w of where) this.fail(day, undefined, 'no-secret-leaked', w);
  }

  /** Emails sent (accepted, not dropped) and 429s from the simulated ACS. */
  mailStats() {
    const sent = this.cloud.mail.messages.filter((m) => !m.dropped).length;
    return { sent, throttled: this.cloud.mail.throttledTotal };
  }
}
