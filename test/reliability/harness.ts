// Shared helpers of the reliability suite: a small tenant that can be reset between cases, the leak scanner,
// the invariants I1-I5 over the whole tenant, a real CLI child process, and the suite's counters.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TableClient, TableServiceClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { expect, inject } from 'vitest';
import { LOCK_CONTAINER, secretLockBlob } from '../../src/azure/locks.js';
import { main } from '../../src/cli.js';
import { pendingLockName } from '../../src/notify/pending.js';
import { ROTATOR_PREFIX } from '../../src/rotation/checks.js';
import { defaultSecretName } from '../../src/rotation/policy.js';
import type { Report } from '../../src/rotation/report.js';
import { startSimCloud, type SimCloud, type SimCloudOptions } from '../sim/cloud.js';
import type { FaultRule } from '../sim/http.js';
import type { SimApplication } from '../sim/tenant.js';

export const DAY = 86_400_000;
export const RENEW_BEFORE_DAYS = 30;

/** Settings every reliability run uses: short proof and lock waits keep fault cases fast. */
export function productEnv(cloud: SimCloud, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...cloud.env,
    VERIFY_TIMEOUT_SECONDS: '3',
    LOCK_WAIT_SECONDS: '1',
    NOTIFY_ALSO: 'secops@contoso.com',
    ...extra,
  };
}

/** A simulated cloud, the product's settings for it (lock storage in the suite's Azurite) and that Azurite. */
export interface HarnessCloud {
  cloud: SimCloud;
  env: Record<string, string>;
  storage: string;
}

/**
 * Starts the simulated cloud (Graph throttling off unless `opts` say otherwise) and puts the product's settings for
 * it (productEnv, with `extra`) into process.env, for the product run in this process as well as in CLI children.
 */
export async function startHarnessCloud(
  opts: SimCloudOptions = {},
  extra: Record<string, string> = {},
): Promise<HarnessCloud> {
  const cloud = await startSimCloud({ graphThrottling: false, ...opts });
  const storage = inject('azuriteConnectionString');
  const env = productEnv(cloud, { AzureWebJobsStorage: storage, ...extra });
  Object.assign(process.env, env);
  return { cloud, env, storage };
}

// ---------------------------------------------------------------------------------------------------------------
// Tenant

export interface SmallTenant {
  /** Due: a person's secret expiring in 10 days. */
  due: SimApplication;
  /** Every secret expired (a person's), with a rotation:notify tag. */
  expired: SimApplication;
  /** Up to date, but a rotator-made secret superseded 20 days ago waits for retirement (exercises removePassword). */
  retiring: SimApplication;
  /** Up to date: nothing to do. */
  fresh: SimApplication;
  /** Personal-account audience (two passwords at most), both rotator-made and due: rotating must first remove the
   *  superseded one (makeRoom), never the current one. */
  personal: SimApplication;
}

const isRotatorMade = (displayName: string | null) => (displayName ?? '').startsWith(ROTATOR_PREFIX);

/** Empties the directory's apps and seeds five owned apps. Vault names are per appId, so old versions never collide. */
export function resetSmallTenant(cloud: SimCloud, now = new Date()): SmallTenant {
  const t = cloud.tenant;
  t.applications.clear();
  const at = (days: number) => new Date(now.getTime() + days * DAY);
  const owner = t.addUser({ displayName: 'Alice Martin', mail: 'alice@contoso.com' });
  const owners = [cloud.rotator.id, owner.id];
  const person = (endsInDays: number, ageDays = 300) => ({
    displayName: 'created in the portal',
    startDateTime: at(-ageDays),
    endDateTime: at(endsInDays),
  });
  const due = t.addApplication({
    displayName: 'Contoso Intranet',
    ownerIds: owners,
    passwords: [person(10)],
  });
  const expired = t.addApplication({
    displayName: 'Expense Reports',
    ownerIds: owners,
    tags: ['rotation:notify=finance-ops@contoso.com'],
    passwords: [person(-3)],
  });
  const retiring = t.addApplication({
    displayName: 'Payroll API',
    ownerIds: owners,
    passwords: [
      { displayName: `${ROTATOR_PREFIX} old`, startDateTime: at(-200), endDateTime: at(20) },
      { displayName: `${ROTATOR_PREFIX} current`, startDateTime: at(-20), endDateTime: at(160) },
    ],
  });
  const fresh = t.addApplication({
    displayName: 'HR Portal',
    ownerIds: owners,
    passwords: [person(200, 100)],
  });
  const personal = t.addApplication({
    displayName: 'Contoso Rewards App',
    signInAudience: 'AzureADandPersonalMicrosoftAccount',
    ownerIds: owners,
    passwords: [
      { displayName: `${ROTATOR_PREFIX} superseded`, startDateTime: at(-300), endDateTime: at(40) },
      { displayName: `${ROTATOR_PREFIX} current`, startDateTime: at(-170), endDateTime: at(10) },
    ],
  });
  // The rotator-made secrets reached Key Vault, oldest first: the newest version is the current secret.
  for (const app of [retiring, personal])
    for (const c of app.passwordCredentials)
      cloud.vault.seed(defaultSecretName(app.appId), c.secretText, {
        tags: { appId: app.appId, keyId: c.keyId },
        notBefore: new Date(c.startDateTime),
        expiresOn: new Date(c.endDateTime),
        createdOn: new Date(c.startDateTime),
      });
  return { due, expired, retiring, fresh, personal };
}

/** keyIds of credentials made by people, per app: I2 says none of them is ever removed. */
export function snapshotPersonCredentials(cloud: SimCloud): Map<string, Set<string>> {
  const m = new Map<string, Set<string>>();
  for (const app of cloud.tenant.applications.values())
    m.set(
      app.appId,
      new Set(app.passwordCredentials.filter((c) => !isRotatorMade(c.displayName)).map((c) => c.keyId)),
    );
  return m;
}

/** keyIds of every credential, per app, to count what a run added (I3). */
export function snapshotKeyIds(cloud: SimCloud): Map<string, Set<string>> {
  const m = new Map<string, Set<string>>();
  for (const app of cloud.tenant.applications.values())
    m.set(app.appId, new Set(app.passwordCredentials.map((c) => c.keyId)));
  return m;
}

/**
 * Breaks the leases a killed run left on this tenant's apps, as the passing of a killed holder's lease (at most
 * 60 s) would. Only this tenant's lock blobs: test files run side by side on one Azurite, and breaking another
 * file's live lease would let two of its runs rotate one app. Twice, 200 ms apart: lease requests a killed worker
 * thread had sent just before it died are still granted by Azurite after a first pass (measured: 30 of 800 such
 * requests outlived one pass, none two), and in the soak such a lease outlived the simulated days that pass in its
 * real minute (the stuck-app-reported-failed streaks of the 300-app years).
 */
export async function expireLocks(connectionString: string, cloud: SimCloud): Promise<void> {
  const container =
    BlobServiceClient.fromConnectionString(connectionString).getContainerClient(LOCK_CONTAINER);
  if (!(await container.exists())) return;
  const mine = new Set([...cloud.tenant.applications.values()].map((a) => `${a.appId.toLowerCase()}.lock`));
  mine.add(`${pendingLockName(cloud.env.KEY_VAULT_URL!).toLowerCase()}.lock`);
  for (const a of cloud.tenant.applications.values()) mine.add(secretLockBlob(secretNameOf(a)));
  for (const pass of [0, 1]) {
    if (pass) await new Promise((resolve) => setTimeout(resolve, 200));
    for await (const b of container.listBlobsFlat()) {
      if (!mine.has(b.name) || b.properties.leaseState !== 'leased') continue;
      try {
        await container.getBlobClient(b.name).getBlobLeaseClient().breakLease(0);
      } catch (err) {
        // Released between the listing and the break: nothing to do.
        if ((err as { statusCode?: number }).statusCode !== 409) throw err;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// I4: the leak scanner

/** Everything the product emitted during a test, by where it came from. */
export class Emitted {
  private readonly items: Array<{ where: string; text: string }> = [];

  add(where: string, value: unknown): void {
    if (value === undefined) return;
    this.items.push({ where, text: typeof value === 'string' ? value : JSON.stringify(value) });
  }

  /** A logger for runRotation / runAndNotify that keeps its lines. */
  logger(where: string) {
    return (msg: string, fields?: Record<string, unknown>) =>
      this.add(where, `${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}`);
  }

  /** Every email the simulated ACS accepted (subjects and both bodies). */
  addMail(cloud: SimCloud, from = 0): void {
    cloud.mail.messages.slice(from).forEach((m, i) => {
      this.add(`email #${from + i} to ${m.to.join(',')}: subject`, m.subject);
      this.add(`email #${from + i} to ${m.to.join(',')}: plain text`, m.plainText);
      this.add(`email #${from + i} to ${m.to.join(',')}: html`, m.html);
    });
  }

  /** The URLs the product called (paths and queries end up in proxy and server logs, so no secret belongs there). */
  addRequestUrls(cloud: SimCloud, fromSeq = 0): void {
    for (const e of cloud.log.entries)
      if (e.seq > fromSeq) this.add(`request #${e.seq} ${e.op} URL`, `${e.path}${e.query}`);
  }

  /** What the product persisted outside Key Vault: Key Vault tags, run-table rows, queued work messages, lock blobs. */
  async addStorage(cloud: SimCloud, connectionString: string): Promise<number> {
    const before = this.items.length;
    for (const name of cloud.vault.names())
      for (const v of cloud.vault.versions(name))
        this.add(`Key Vault ${name}/${v.version} tags`, { tags: v.tags, contentType: v.contentType });
    const tables = TableServiceClient.fromConnectionString(connectionString, {
      allowInsecureConnection: true,
    });
    for await (const t of tables.listTables()) {
      const table = TableClient.fromConnectionString(connectionString, t.name!, {
        allowInsecureConnection: true,
      });
      for await (const row of table.listEntities())
        this.add(`table ${t.name} row ${row.partitionKey}/${row.rowKey}`, row);
    }
    const queues = QueueServiceClient.fromConnectionString(connectionString);
    for await (const q of queues.listQueues()) {
      const peeked = await queues.getQueueClient(q.name).peekMessages({ numberOfMessages: 32 });
      for (const m of peeked.peekedMessageItems) {
        this.add(`queue ${q.name} message`, m.messageText);
        this.add(`queue ${q.name} message (decoded)`, Buffer.from(m.messageText, 'base64').toString('utf8'));
      }
    }
    const blobs = BlobServiceClient.fromConnectionString(connectionString);
    for await (const c of blobs.listContainers())
      for await (const b of blobs.getContainerClient(c.name).listBlobsFlat({ includeMetadata: true }))
        this.add(`blob ${c.name}/${b.name}`, { name: b.name, metadata: b.metadata });
    return this.items.length - before;
  }

  get count(): number {
    return this.items.length;
  }

  /** Everything collected, for a scanner of its own (the soak's indexed one, test/soak/leaks.ts). */
  get entries(): ReadonlyArray<{ where: string; text: string }> {
    return this.items;
  }

  /** Locations (never the secret) where any secret the cloud ever issued appears. */
  leaks(cloud: SimCloud): string[] {
    const secrets = cloud.issuedSecrets().filter((s) => s.length >= 8);
    const hits: string[] = [];
    for (const { where, text } of this.items) {
      for (const s of secrets) {
        const at = text.indexOf(s);
        if (at >= 0) hits.push(`${where} at character ${at} (a secret of ${s.length} characters)`);
        // Escaped forms: a secret inside JSON or HTML may be written with escapes.
        else if (text.includes(JSON.stringify(s).slice(1, -1)) && JSON.stringify(s).slice(1, -1) !== s)
          hits.push(`${where} (JSON-escaped secret)`);
      }
    }
    return hits;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Invariants

export interface Counters {
  faultCases: number;
  invariantChecks: number;
  malformedInputs: number;
  concurrentRuns: number;
}
export const counters: Counters = {
  faultCases: 0,
  invariantChecks: 0,
  malformedInputs: 0,
  concurrentRuns: 0,
};

function held(name: string, violations: string[]): void {
  expect(violations, `${name} violated`).toEqual([]);
  counters.invariantChecks++;
}

/** The app's secret name: rotation:secretName tag, else the default derived from the appId. */
function secretNameOf(app: SimApplication): string {
  const tag = app.tags.find((t) => t.startsWith('rotation:secretName='));
  return tag ? tag.slice('rotation:secretName='.length) : defaultSecretName(app.appId);
}

/** I1 nothing lost: every valid rotator-made credential has a Key Vault version tagged with its keyId, and that
 *  version's value signs in as the app. */
export function checkNothingLost(cloud: SimCloud, now = Date.now()): void {
  const violations: string[] = [];
  for (const app of cloud.tenant.applications.values()) {
    const versions = cloud.vault.versions(secretNameOf(app));
    for (const c of app.passwordCredentials) {
      if (!isRotatorMade(c.displayName) || Date.parse(c.endDateTime) <= now) continue;
      const v = versions.find((x) => x.tags.keyId === c.keyId);
      if (!v) {
        violations.push(`${app.displayName}: credential ${c.keyId} has no Key Vault version`);
        continue;
      }
      const auth = cloud.tenant.authenticate(app.appId, v.value);
      if (!('ok' in auth))
        violations.push(`${app.displayName}: Key Vault copy of ${c.keyId} fails: ${auth.code}`);
    }
  }
  held('I1 nothing lost', violations);
}

/** I2 nothing broken: in-scope apps (owned, not disabled, with secrets) have a current secret outside the
 *  window; and no person's credential has gone. `fresh` = the last run was fault-free. */
export function checkNothingBroken(
  cloud: SimCloud,
  personsBefore: Map<string, Set<string>>,
  opts: { fresh: boolean; now?: number; skipAppIds?: string[] },
): void {
  const now = opts.now ?? Date.now();
  const violations: string[] = [];
  for (const app of cloud.tenant.applications.values()) {
    const keyIds = new Set(app.passwordCredentials.map((c) => c.keyId));
    for (const k of personsBefore.get(app.appId) ?? [])
      if (!keyIds.has(k)) violations.push(`${app.displayName}: a person's credential ${k} was removed`);
    const inScope =
      app.ownerIds.includes(cloud.rotator.id) &&
      !app.tags.includes('rotation:disabled') &&
      !app.tags.some((t) => t.startsWith('rotation:') && !/^rotation:(notify|secretName)=/.test(t)) &&
      app.passwordCredentials.length > 0 &&
      !opts.skipAppIds?.includes(app.appId);
    if (!opts.fresh || !inScope) continue;
    const latestKeyId = cloud.vault.latest(secretNameOf(app))?.tags.keyId;
    const valid = app.passwordCredentials.filter((c) => Date.parse(c.endDateTime) > now);
    const current =
      valid.find((c) => c.keyId === latestKeyId) ??
      valid.sort((a, b) => Date.parse(b.endDateTime) - Date.parse(a.endDateTime))[0];
    if (!current) violations.push(`${app.displayName}: no valid secret`);
    else if (Date.parse(current.endDateTime) - now <= RENEW_BEFORE_DAYS * DAY)
      violations.push(
        `${app.displayName}: current secret ${current.keyId} expires within the renewal window`,
      );
  }
  held('I2 nothing broken', violations);
}

/** I3 nothing doubled: at most one new rotator-made credential per app in one run (or a set of concurrent runs). */
export function checkNothingDoubled(cloud: SimCloud, keyIdsBefore: Map<string, Set<string>>): void {
  const violations: string[] = [];
  for (const app of cloud.tenant.applications.values()) {
    const before = keyIdsBefore.get(app.appId) ?? new Set<string>();
    const added = app.passwordCredentials.filter((c) => isRotatorMade(c.displayName) && !before.has(c.keyId));
    if (added.length > 1) violations.push(`${app.displayName}: ${added.length} new credentials in one run`);
  }
  held('I3 nothing doubled', violations);
}

/** I3 for email: one message per recipient per run (a retried send reuses its Operation-Id, so ACS sends it once). */
export function checkOneMailPerRecipient(cloud: SimCloud, from: number): void {
  const seen = new Map<string, number>();
  for (const m of cloud.mail.messages.slice(from))
    if (!m.dropped) for (const to of m.to) seen.set(to.toLowerCase(), (seen.get(to.toLowerCase()) ?? 0) + 1);
  held(
    'I3 one email per recipient per run',
    [...seen].filter(([, n]) => n > 1).map(([to, n]) => `${to}: ${n} messages`),
  );
}

/** I4 nothing leaked. */
export function checkNothingLeaked(cloud: SimCloud, emitted: Emitted): void {
  held('I4 nothing leaked', emitted.leaks(cloud));
}

const WRITE_OPS =
  /^(graph\.(addPassword|removePassword)|keyvault\.(setSecret|updateSecret|deleteSecret|purgeDeletedSecret|recoverDeletedSecret)|acs\.send)$/;

/** I5 nothing changed on refusal: no Graph, Key Vault or mail write since log sequence `sinceSeq`. */
export function checkNothingChanged(cloud: SimCloud, sinceSeq: number): void {
  const writes = cloud.log.entries.filter((e) => e.seq > sinceSeq && WRITE_OPS.test(e.op));
  held(
    'I5 nothing changed on refusal',
    writes.map((e) => `${e.op} ${e.status}`),
  );
}

export const lastSeq = (cloud: SimCloud) => cloud.log.entries.at(-1)?.seq ?? 0;

/** What the invariants compare with: snapshots from the start of a case and of its last run. */
export interface InvariantInput {
  /** keyIds before the last run (I3: at most one new rotator-made credential per app in it). */
  before: Map<string, Set<string>>;
  /** People's credentials at the start of the case (I2: none removed). */
  persons: Map<string, Set<string>>;
  /** I2: the last run was fault-free, so every in-scope app must hold a current secret outside the window. */
  fresh: boolean;
  emitted: Emitted;
  /** Index of the last run's first message (I3 for email: one message per recipient in that run). */
  mailOfRun?: number;
  /** Index of the case's first message: its mail joins the leak scan (I4). */
  mailOfCase?: number;
  /** Log sequence at the start of the case: request URLs since then join the leak scan (I4). */
  requestsSince?: number;
}

/** The invariants every fault case ends with: I3 nothing doubled, I1 nothing lost, I2 nothing broken, I4 no leak. */
export function assertInvariants(cloud: SimCloud, i: InvariantInput): void {
  checkNothingDoubled(cloud, i.before);
  if (i.mailOfRun !== undefined) checkOneMailPerRecipient(cloud, i.mailOfRun);
  checkNothingLost(cloud);
  checkNothingBroken(cloud, i.persons, { fresh: i.fresh });
  if (i.mailOfCase !== undefined) i.emitted.addMail(cloud, i.mailOfCase);
  if (i.requestsSince !== undefined) i.emitted.addRequestUrls(cloud, i.requestsSince);
  checkNothingLeaked(cloud, i.emitted);
}

// ---------------------------------------------------------------------------------------------------------------
// The CLI as a real child process

export interface CliRun {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

export function startCli(args: string[], env: Record<string, string>): CliRun {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: process.cwd(),
    // The throwaway CA and PATH come from the test process; nothing else of it (no stray Azure settings).
    env: {
      PATH: process.env.PATH ?? '',
      NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS ?? '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

/**
 * A CLI child running `args`, killed (SIGKILL) right after a request matching `fault` committed (the simulator
 * calls back only once the child has reached that step); then the leases it held are broken, standing for the
 * minute they last. The fault must have been met once.
 */
export async function runKilledAfter(
  h: HarnessCloud,
  args: string[],
  fault: Pick<FaultRule, 'op' | 'when'>,
  env = h.env,
): Promise<Awaited<CliRun['done']>> {
  const run = startCli(args, env);
  const rule = h.cloud.faults.add({
    ...fault,
    kind: 'commitThenHang',
    times: 1,
    onCommitted: () => run.child.kill('SIGKILL'),
  });
  const killed = await run.done;
  h.cloud.faults.clear();
  expect(rule.hits, `the killed run reached ${String(fault.op)}`).toBe(1);
  expect(killed.signal).toBe('SIGKILL');
  await expireLocks(h.storage, h.cloud);
  return killed;
}

export function parseReport(stdout: string): Report {
  return JSON.parse(stdout) as Report;
}

// ---------------------------------------------------------------------------------------------------------------
// The summary line: each test file is its own process, so counts meet in results.json, keyed by the vitest run
// (the Azurite its global setup started has fresh ports each run).

const RESULTS = join(process.cwd(), 'test', 'reliability', 'results.json');
const LOCK = `${RESULTS}.lock`;

interface RunResults {
  /** When this run's first file reported. */
  at: string;
  files: Record<string, Counters & { at: string; rows?: unknown[] }>;
  totals: Counters;
}

/** Runs by key (several `vitest run`s may share the checkout); the newest few are kept. */
interface Results {
  runs: Record<string, RunResults>;
}

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Adds this file's counts to results.json and prints the suite's line with the totals so far. */
export function recordResults(file: string, rows?: unknown[]): string {
  const run = createHash('sha256').update(inject('azuriteConnectionString')).digest('hex').slice(0, 16);
  for (let i = 0; ; i++) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      if (i > 200) rmSync(LOCK, { recursive: true, force: true });
      sleepSync(25);
    }
  }
  try {
    let results: Results;
    try {
      results = JSON.parse(readFileSync(RESULTS, 'utf8')) as Results;
      if (typeof results.runs !== 'object' || results.runs === null) results = { runs: {} };
    } catch {
      results = { runs: {} };
    }
    const mine: RunResults = (results.runs[run] ??= {
      at: new Date().toISOString(),
      files: {},
      totals: { faultCases: 0, invariantChecks: 0, malformedInputs: 0, concurrentRuns: 0 },
    });
    mine.files[file] = { ...counters, at: new Date().toISOString(), ...(rows ? { rows } : {}) };
    const t = { faultCases: 0, invariantChecks: 0, malformedInputs: 0, concurrentRuns: 0 };
    for (const f of Object.values(mine.files)) {
      t.faultCases += f.faultCases;
      t.invariantChecks += f.invariantChecks;
      t.malformedInputs += f.malformedInputs;
      t.concurrentRuns += f.concurrentRuns;
    }
    mine.totals = t;
    const newest = Object.entries(results.runs)
      .sort(([, a], [, b]) => b.at.localeCompare(a.at))
      .slice(0, 5);
    results.runs = Object.fromEntries(newest.some(([k]) => k === run) ? newest : [...newest, [run, mine]]);
    writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
    const all = readdirSync(join(process.cwd(), 'test', 'reliability')).filter((f) => f.endsWith('.test.ts'));
    const done = all.filter((f) => f in mine.files).length;
    // Files run one after another or side by side: the one that completes the set prints the suite's line.
    const line =
      `reliability: ${t.faultCases} fault cases, ${t.invariantChecks} invariant checks held, ` +
      `${t.malformedInputs} malformed inputs, ${t.concurrentRuns} concurrent runs` +
      (done === all.length ? '' : ` (so far: ${done} of ${all.length} files)`);
    console.log(line);
    return line;
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Shared by the fault matrix and the crash cases

/** The external steps of a rotation, and the simulator operation each one is. */
export const STEPS = [
  { step: 'list apps', op: 'graph.listOwnedObjects' },
  { step: 'owners', op: 'graph.batch' },
  { step: 'addPassword', op: 'graph.addPassword' },
  { step: 'token proof', op: 'entra.token' },
  { step: 'Key Vault set', op: 'keyvault.setSecret' },
  { step: 'Key Vault versions', op: 'keyvault.listVersions' },
  { step: 'email send', op: 'acs.send' },
  { step: 'removePassword', op: 'graph.removePassword' },
] as const;

/** Starts a fault case: its own locks freed, no faults, the small tenant reset, and the snapshots the invariant
 *  checks compare with afterwards. */
export async function startCase(cloud: SimCloud) {
  counters.faultCases++;
  await expireLocks(inject('azuriteConnectionString'), cloud);
  cloud.faults.clear();
  const tenant = resetSmallTenant(cloud);
  return {
    tenant,
    emitted: new Emitted(),
    mailFrom: cloud.mail.messages.length,
    persons: snapshotPersonCredentials(cloud),
    before: snapshotKeyIds(cloud),
    seq: lastSeq(cloud),
  };
}

/** Runs the CLI in process with `env`, keeping everything it printed for the leak scan. */
export async function cliInProcess(
  args: string[],
  env: Record<string, string>,
  emitted: Emitted,
  label: string,
) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, env, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  emitted.add(`${label} stdout`, stdout);
  emitted.add(`${label} stderr`, stderr);
  // Exit 2 and a run that stopped print nothing; anything printed must be exactly one JSON report.
  const report = stdout ? (JSON.parse(stdout) as Report) : undefined;
  return { code, stdout, stderr, report };
}
