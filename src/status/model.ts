// The status page's data (GET /api/status, issue 16 §6): every app in scope with its current secret's expiry, the
// last rotation, the next due date, and the last runs with their outcomes. Pure: built from a scan report, the
// apps' credentials (Graph) and the run table's rows; the HTML and the JSON answer are two views of this one object.
// No secret value is ever part of it (credential metadata and reports only).
import type { AppRow, RunRow } from '../azure/runs.js';
import { isRotatorMade, type Credential } from '../rotation/checks.js';
import type { Action, AppReport } from '../rotation/report.js';

const DAY = 86_400_000;

export interface StatusSecret {
  keyId: string;
  name: string | null;
  startsOn: string;
  expiresOn: string;
  madeBy: 'rotator' | 'person';
  current: boolean;
}

export interface StatusApp {
  appId: string;
  displayName: string;
  /** What a rotation would do now (the scan's verdict) and why. */
  action: Action;
  reason?: string;
  /** The scan entry's machine-readable code (report `code`). */
  code?: AppReport['code'];
  /** The current secret's expiry (contract §7 "current secret"); undefined when none is valid. */
  expiresOn?: string;
  /** Start of the newest secret the rotator made (its last rotation); undefined if it never rotated this app. */
  lastRotatedAt?: string;
  /** When the app becomes due (current expiry minus its renewal window); `generatedAt` when it is due now. */
  nextDueOn?: string;
  renewBeforeDays?: number;
  /** Every client secret of the app, for the timeline. */
  secrets: StatusSecret[];
  /** The app's result in the newest recorded run that included it (rotated or failed). */
  lastRun?: { runId: string; startedAt: string; action: Action; reason?: string };
}

export interface StatusRun {
  runId: string;
  trigger: string;
  startedAt: string;
  requestedBy?: { oid: string; appId?: string; name?: string };
  scanned: number;
  rotated: number;
  failed: number;
  /** failed: at least one app failed; running: queued apps not all done yet. */
  outcome: 'succeeded' | 'failed' | 'running';
  failures: Array<{ appId: string; displayName: string; reason: string }>;
}

export interface StatusPage {
  generatedAt: string;
  scope: string;
  apps: StatusApp[];
  runs: StatusRun[];
  notes: string[];
}

export interface AppFacts {
  passwordCredentials: Credential[];
  /** The app's renewal window (RENEW_BEFORE_DAYS or its tag); undefined when its tags are invalid. */
  renewBeforeDays?: number;
}

export type RunInput = Pick<
  RunRow,
  'runId' | 'startedAt' | 'scanned' | 'queued' | 'rotatedInline' | 'failedInline'
> & { trigger: string; requestedBy?: StatusRun['requestedBy'] };

export interface StatusInput {
  now: Date;
  scope: string;
  /** The scan's entries: one per app in scope. */
  apps: readonly AppReport[];
  /** Credentials and renewal window per appId (lower case), from the same listing. */
  facts: ReadonlyMap<string, AppFacts>;
  /** Newest first: a run row of the run table (or the like, e.g. a CLI run's report) and its app rows. */
  runs: ReadonlyArray<{ run: RunInput; apps: ReadonlyArray<Pick<AppRow, 'appId' | 'source' | 'report'>> }>;
  notes?: readonly string[];
}

export function buildStatus(input: StatusInput): StatusPage {
  const apps = input.apps.map((a) => {
    const app = statusApp(a, input.facts.get(a.appId.toLowerCase()), input.now);
    const last = lastRunOf(a.appId, input.runs);
    return last ? { ...app, lastRun: last } : app;
  });
  // The apps that need a look first: failing, then soonest due; the others by name.
  apps.sort((a, b) => rank(a) - rank(b) || due(a) - due(b) || a.displayName.localeCompare(b.displayName));
  return {
    generatedAt: input.now.toISOString(),
    scope: input.scope,
    apps,
    runs: input.runs.map(({ run, apps: rows }) => statusRun(run, rows)),
    notes: [...(input.notes ?? [])],
  };
}

/** Failing now, or in the last run that touched it: what an operator must look at. */
export const isFailing = (a: StatusApp) => a.action === 'failed' || a.lastRun?.action === 'failed';
const rank = (a: StatusApp) =>
  isFailing(a) ? 0 : { failed: 0, 'would-rotate': 1, rotated: 2, 'up-to-date': 2, skipped: 3 }[a.action];

/** Runs come newest first; the first one with a row for this app says how its last rotation attempt went. */
function lastRunOf(appId: string, runs: StatusInput['runs']): StatusApp['lastRun'] {
  const id = appId.toLowerCase();
  for (const { run, apps } of runs) {
    const row = apps.find((r) => r.appId.toLowerCase() === id);
    if (row?.report)
      return {
        runId: run.runId,
        startedAt: run.startedAt,
        action: row.report.action,
        ...(row.report.reason ? { reason: row.report.reason } : {}),
      };
  }
  return undefined;
}
const due = (a: StatusApp) => (a.nextDueOn ? Date.parse(a.nextDueOn) : Infinity);

function statusApp(report: AppReport, facts: AppFacts | undefined, now: Date): StatusApp {
  const creds = facts?.passwordCredentials ?? [];
  const valid = creds.filter((c) => Date.parse(c.endDateTime) > now.getTime());
  // The scan names the current secret's expiry for apps that are up to date; otherwise the valid secret that
  // expires last (contract §7, without the Key Vault pointer, which only matters when several are valid).
  const byEnd = [...valid].sort((a, b) => Date.parse(b.endDateTime) - Date.parse(a.endDateTime));
  const current =
    (report.expiresOn && valid.find((c) => Date.parse(c.endDateTime) === Date.parse(report.expiresOn!))) ||
    byEnd[0];
  const rotatorMade = creds.filter(isRotatorMade).map((c) => c.startDateTime);
  const lastRotatedAt = rotatorMade.sort().at(-1);
  const window = facts?.renewBeforeDays;
  let nextDueOn: string | undefined;
  if (report.action === 'would-rotate') nextDueOn = now.toISOString();
  else if (report.action !== 'skipped' && current && window !== undefined) {
    const at = Date.parse(current.endDateTime) - window * DAY;
    nextDueOn = new Date(Math.max(at, now.getTime())).toISOString();
  }
  return {
    appId: report.appId,
    displayName: report.displayName,
    action: report.action,
    ...(report.reason ? { reason: report.reason } : {}),
    ...(report.code ? { code: report.code } : {}),
    ...(current ? { expiresOn: current.endDateTime } : {}),
    ...(lastRotatedAt ? { lastRotatedAt } : {}),
    ...(nextDueOn ? { nextDueOn } : {}),
    ...(window !== undefined ? { renewBeforeDays: window } : {}),
    secrets: creds
      .map((c) => ({
        keyId: c.keyId,
        name: c.displayName,
        startsOn: c.startDateTime,
        expiresOn: c.endDateTime,
        madeBy: isRotatorMade(c) ? ('rotator' as const) : ('person' as const),
        current: c === current,
      }))
      .sort((a, b) => Date.parse(a.startsOn) - Date.parse(b.startsOn)),
  };
}

function statusRun(run: RunInput, rows: StatusInput['runs'][number]['apps']): StatusRun {
  // Inline rows are the rotations the HTTP call or timer did itself (already in rotatedInline/failedInline);
  // worker and poison rows are the queued apps, one each when done.
  const queuedRows = rows.filter((r) => r.source !== 'inline');
  const failures = rows
    .filter((r) => r.report?.action === 'failed')
    .map((r) => ({ appId: r.appId, displayName: r.report.displayName, reason: r.report.reason ?? '' }));
  const rotated = run.rotatedInline + queuedRows.filter((r) => r.report?.action === 'rotated').length;
  const failed = Math.max(
    run.failedInline + queuedRows.filter((r) => r.report?.action === 'failed').length,
    failures.length,
  );
  const outcome = failed > 0 ? 'failed' : queuedRows.length < run.queued ? 'running' : 'succeeded';
  return {
    runId: run.runId,
    trigger: run.trigger,
    startedAt: run.startedAt,
    ...(run.requestedBy ? { requestedBy: run.requestedBy } : {}),
    scanned: run.scanned,
    rotated,
    failed,
    outcome,
    failures,
  };
}
