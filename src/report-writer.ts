// The CLI's report on stdout, written while the run goes: a 50,000-app tenant's report (about 13 MB of JSON) is
// never held whole, so the CLI's memory does not grow with the tenant. Output is buffered in pieces of about
// 64 KB: a small run prints everything at the end, as if it had been written at once.
import type { ReportStream } from './rotation/engine.js';
import {
  appCount,
  formatRow,
  summaryLines,
  TABLE_HEADER,
  type AppReport,
  type Report,
} from './rotation/report.js';

const PIECE = 65_536;

type Head = Pick<Report, 'runId' | 'startedAt' | 'dryRun'>;

export interface ReportWriter extends ReportStream {
  /** The run's end: the entries it held back (see RunOptions.stream), then the summary and the notes. */
  finish(report: Report): void;
  /**
   * The run failed. With what it had done (`partial`: every run that started has one), the report is closed as one
   * whole report that says it is incomplete; without, nothing is printed. Returns whether it printed.
   */
  fail(error: string, partial?: Report): boolean;
}

type Tail = Pick<Report, 'finishedAt' | 'summary' | 'notes' | 'dryRun'> & { error?: string };

abstract class BufferedWriter implements ReportWriter {
  private head: Head | undefined;
  private buffer = '';
  private flushed = false;
  private closed = false;
  protected written = 0;

  constructor(private readonly write: (s: string) => unknown) {}

  start(head: Head): void {
    this.head = head;
  }

  app(entry: AppReport): void {
    if (!this.head) throw new Error('ReportWriter.app before start');
    if (this.closed) return; // an app that settled after the run was cut short: the report is already whole
    this.add(entry);
    if (this.buffer.length >= PIECE) this.flush();
  }

  finish(report: Report): void {
    this.head ??= report;
    this.close(report.apps, report);
  }

  fail(error: string, partial?: Report): boolean {
    if (!partial) return false;
    this.head ??= partial;
    this.close(partial.apps, { ...partial, error });
    return true;
  }

  private add(entry: AppReport): void {
    this.buffer += this.entry(entry, this.written++ === 0);
  }

  private close(held: readonly AppReport[], tail: Tail): void {
    if (this.closed) return;
    this.closed = true;
    // The held entries (every rotated app's: 2,500 at 50,000 apps, 5 % due) go out in pieces too: as one string
    // and its copy for the pipe they were the run's peak of memory, at its very end.
    for (const entry of held) {
      this.add(entry);
      if (this.buffer.length >= PIECE) this.flush();
    }
    this.buffer += this.tail(tail);
    this.flush();
  }

  private flush(): void {
    if (!this.flushed) this.buffer = this.opening(this.head!) + this.buffer;
    this.flushed = true;
    this.write(this.buffer);
    this.buffer = '';
  }

  protected abstract opening(head: Head): string;
  protected abstract entry(entry: AppReport, first: boolean): string;
  protected abstract tail(tail: Tail): string;
}

/**
 * Exactly the text of `JSON.stringify(report, null, 2)` for a report whose keys come in the order runId,
 * startedAt, dryRun, apps, finishedAt, summary, notes (and error, for a run cut short); the entries in the order
 * they became final.
 */
export class JsonReportWriter extends BufferedWriter {
  protected opening(head: Head): string {
    return `{${members({ runId: head.runId, startedAt: head.startedAt, dryRun: head.dryRun })},\n  "apps": [`;
  }

  protected entry(entry: AppReport, first: boolean): string {
    return `${first ? '' : ','}\n    ${JSON.stringify(entry, null, 2).replace(/\n/g, '\n    ')}`;
  }

  protected tail({ finishedAt, summary, notes, error }: Tail): string {
    const incomplete = error && `${INCOMPLETE}: ${error}`;
    return `${this.written ? '\n  ' : ''}],${members({ finishedAt, summary, notes, error: incomplete })}\n}\n`;
  }
}

/** The readable table, one row per app as it becomes final; the summary and notes under it. */
export class TableReportWriter extends BufferedWriter {
  protected opening(): string {
    return `${TABLE_HEADER}\n`;
  }

  protected entry(entry: AppReport): string {
    return `${formatRow(entry)}\n`;
  }

  protected tail(tail: Tail): string {
    const lines = summaryLines(tail);
    if (tail.error) lines.push(`${INCOMPLETE} (${appCount(this.written)}): ${tail.error}`);
    return `\n${lines.join('\n')}\n`;
  }
}

const INCOMPLETE =
  'The run failed before it could finish, so this report lists only the apps settled until then';

/** An object's members as JSON.stringify(…, null, 2) prints them inside the braces (undefined ones left out). */
function members(obj: Record<string, unknown>): string {
  return JSON.stringify(obj, null, 2).slice(1, -2);
}
