// The run report (contract.md §5): the CLI's --json output, the HTTP response, the timer's summary.
import type { StoredAppReport } from '../azure/runs.js';
import { oneLine } from '../text.js';
import type { DecisionCode } from './checks.js';

export type Action = 'rotated' | 'up-to-date' | 'would-rotate' | 'skipped' | 'failed';

/** Why an entry says what it says, for scripts: the deciding check's code, or what happened to the app. */
export type EntryCode =
  | DecisionCode
  | 'app-not-found'
  | 'not-an-owner'
  | 'not-in-scope'
  | 'locked-by-another-run'
  | 'secret-of-another-app'
  | 'secret-not-adoptable'
  | 'rotation-failed'
  | 'handed-off'
  | 'worker-gave-up'
  | 'error';

/** One app's entry; the run table stores the same fields (StoredAppReport), this adds the second round's. */
export interface AppReport extends StoredAppReport {
  action: Action;
  /** Machine-readable companion of `reason` (added in the second round). */
  code?: EntryCode;
}

/** Who asked for a run over HTTP (contract §8): the caller's object id, client id and name from its token. */
export interface RequestedBy {
  oid: string;
  appId?: string;
  name?: string;
}

export interface Report {
  runId: string;
  startedAt: string;
  finishedAt: string;
  dryRun: boolean;
  apps: AppReport[];
  summary: {
    scanned: number;
    rotated: number;
    upToDate: number;
    skipped: number;
    failed: number;
    wouldRotate: number;
  };
  /** Run-level notes an operator should read once (notifications off, owners' addresses unreadable, …). */
  notes?: string[];
  /** The HTTP caller who started the run (absent for the timer and the CLI). */
  requestedBy?: RequestedBy;
}

export function summarize(apps: readonly AppReport[]): Report['summary'] {
  const summary = { scanned: 0, rotated: 0, upToDate: 0, skipped: 0, failed: 0, wouldRotate: 0 };
  for (const a of apps) tally(summary, a.action);
  return summary;
}

const SUMMARY_KEY = {
  rotated: 'rotated',
  'up-to-date': 'upToDate',
  skipped: 'skipped',
  failed: 'failed',
  'would-rotate': 'wouldRotate',
} as const satisfies Record<Action, keyof Report['summary']>;

/** Counts one more app in a summary. */
export function tally(summary: Report['summary'], action: Action): void {
  summary.scanned++;
  summary[SUMMARY_KEY[action]]++;
}

/** Display names are tenant input: keep the table on one line per app whatever they contain. */
const cell = (s: string, width: number) => oneLine(s, width).padEnd(width);

export const TABLE_HEADER = `${cell('APP', 28)} ${cell('APP ID', 36)} ${cell('ACTION', 12)} ${cell('NEW EXPIRY', 10)} DETAIL`;

export function formatRow(a: AppReport): string {
  const detail = [
    a.reason,
    a.keyId ? `new keyId ${a.keyId}` : undefined,
    a.retiredKeyIds?.length ? `retired ${a.retiredKeyIds.join(', ')}` : undefined,
    a.orphansRemoved?.length ? `removed orphan ${a.orphansRemoved.join(', ')}` : undefined,
    a.notified?.length ? `notified ${a.notified.join(', ')}` : undefined,
  ]
    .filter(Boolean)
    .join('; ');
  return `${cell(a.displayName, 28)} ${cell(a.appId, 36)} ${cell(a.action, 12)} ${cell(a.action === 'rotated' ? (a.expiresOn ?? '').slice(0, 10) : '', 10)} ${oneLine(detail)}`;
}

/** The lines under the table: the counts, then the run's notes. */
/** "1 app", "2 apps". */
export const appCount = (n: number): string => `${n} app${n === 1 ? '' : 's'}`;

export function summaryLines(report: Pick<Report, 'dryRun' | 'summary' | 'notes'>): string[] {
  const s = report.summary;
  return [
    `${report.dryRun ? 'Dry run: no changes made. ' : ''}${appCount(s.scanned)}: ${s.rotated} rotated, ${s.wouldRotate} would rotate, ` +
      `${s.upToDate} up to date, ${s.skipped} skipped, ${s.failed} failed.`,
    ...(report.notes ?? []).map((n) => `Note: ${n}`),
  ];
}
