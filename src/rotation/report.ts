// The run report (contract.md §5): the CLI's --json output, the HTTP response, the timer's summary.
import { oneLine } from '../text.js';

export type Action = 'rotated' | 'up-to-date' | 'would-rotate' | 'skipped' | 'failed';

export interface AppReport {
  appId: string;
  displayName: string;
  action: Action;
  keyId?: string;
  expiresOn?: string;
  secretUri?: string;
  retiredKeyIds?: string[];
  notified?: string[];
  reason?: string;
  /** Rotator-made credentials whose secret never reached Key Vault, removed by this run (contract §7 Orphans). */
  orphansRemoved?: string[];
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
}

export function summarize(apps: readonly AppReport[]): Report['summary'] {
  const count = (a: Action) => apps.filter((x) => x.action === a).length;
  return {
    scanned: apps.length,
    rotated: count('rotated'),
    upToDate: count('up-to-date'),
    skipped: count('skipped'),
    failed: count('failed'),
    wouldRotate: count('would-rotate'),
  };
}

/** Display names are tenant input: keep the table on one line per app whatever they contain. */
const cell = (s: string, width: number) => oneLine(s, width).padEnd(width);

export function formatTable(report: Report): string {
  const lines = [
    `${cell('APP', 28)} ${cell('APP ID', 36)} ${cell('ACTION', 12)} ${cell('NEW EXPIRY', 10)} DETAIL`,
  ];
  for (const a of report.apps) {
    const detail = [
      a.reason,
      a.keyId ? `new keyId ${a.keyId}` : undefined,
      a.retiredKeyIds?.length ? `retired ${a.retiredKeyIds.join(', ')}` : undefined,
      a.orphansRemoved?.length ? `removed orphan ${a.orphansRemoved.join(', ')}` : undefined,
      a.notified?.length ? `notified ${a.notified.join(', ')}` : undefined,
    ]
      .filter(Boolean)
      .join('; ');
    lines.push(
      `${cell(a.displayName, 28)} ${cell(a.appId, 36)} ${cell(a.action, 12)} ${cell(a.action === 'rotated' ? (a.expiresOn ?? '').slice(0, 10) : '', 10)} ${oneLine(detail)}`,
    );
  }
  const s = report.summary;
  lines.push(
    '',
    `${report.dryRun ? 'Dry run: no changes made. ' : ''}${s.scanned} apps: ${s.rotated} rotated, ${s.wouldRotate} would rotate, ` +
      `${s.upToDate} up to date, ${s.skipped} skipped, ${s.failed} failed.`,
  );
  for (const n of report.notes ?? []) lines.push(`Note: ${n}`);
  return lines.join('\n');
}
