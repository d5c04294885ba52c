// The CLI's report writers (src/report-writer.ts): what they print is one whole report, in pieces, whatever the
// tenant's size and whether the run finishes.
import { describe, expect, it } from 'vitest';
import { JsonReportWriter, TableReportWriter } from '../../src/report-writer.js';
import {
  formatRow,
  summarize,
  summaryLines,
  TABLE_HEADER,
  type AppReport,
  type Report,
} from '../../src/rotation/report.js';

/** The whole table at once, as a report held whole would print. */
const formatTable = (report: Report): string =>
  [TABLE_HEADER, ...report.apps.map(formatRow), '', ...summaryLines(report)].join('\n');

const head = { runId: 'r', startedAt: '2026-01-01T00:00:00.000Z', dryRun: false };
const hostile = (i: number): AppReport => ({
  appId: `id-${i}`,
  displayName: `app "${i}"\n  "apps": [] \u202e`,
  action: i % 3 ? 'up-to-date' : 'skipped',
  expiresOn: '2027-01-01T00:00:00Z',
  reason: `reason ${i}`,
});
const rotated = (i: number): AppReport => ({
  appId: `rot-${i}`,
  displayName: `rotated ${i}`,
  action: 'rotated',
  keyId: `k-${i}`,
  retiredKeyIds: ['k1'],
  notified: ['owner@contoso.com'],
});

/** What the engine attaches to the error of a run cut short after streaming `streamed` (none held back). */
const cutShort = (streamed: AppReport[]): Report => ({
  ...head,
  finishedAt: '2026-01-01T00:00:05.000Z',
  apps: [],
  summary: summarize(streamed),
});

/** Streams `streamed`, then finishes with `held` as the engine leaves them in report.apps. */
function run(writer: 'json' | 'table', streamed: AppReport[], held: AppReport[], notes?: string[]) {
  const pieces: string[] = [];
  const w =
    writer === 'json'
      ? new JsonReportWriter((s) => pieces.push(s))
      : new TableReportWriter((s) => pieces.push(s));
  w.start(head);
  for (const e of streamed) w.app(e);
  const writtenBeforeFinish = pieces.length;
  const report: Report = {
    ...head,
    finishedAt: '2026-01-01T00:00:09.000Z',
    apps: held,
    summary: summarize([...streamed, ...held]),
    ...(notes ? { notes } : {}),
  };
  w.finish(report);
  return { text: pieces.join(''), pieces, writtenBeforeFinish, report };
}

describe('JSON report writer', () => {
  it.each([
    ['no apps', 0, 0],
    ['one streamed app', 1, 0],
    ['one held app', 0, 1],
    ['3,000 apps, 40 held', 3000, 40],
  ])('prints exactly JSON.stringify of the report (%s)', (_, nStreamed, nHeld) => {
    const streamed = Array.from({ length: nStreamed }, (_, i) => hostile(i));
    const held = Array.from({ length: nHeld }, (_, i) => rotated(i));
    const { text, report } = run('json', streamed, held, ['a note with "quotes"\nand a newline']);
    const expected = {
      runId: report.runId,
      startedAt: report.startedAt,
      dryRun: report.dryRun,
      apps: [...streamed, ...held],
      finishedAt: report.finishedAt,
      summary: report.summary,
      notes: report.notes,
    };
    expect(text).toBe(`${JSON.stringify(expected, null, 2)}\n`);
    expect(JSON.parse(text)).toEqual({ ...report, apps: [...streamed, ...held] });
  });

  it('writes a large report while the run goes, in pieces of about 64 KB', () => {
    const streamed = Array.from({ length: 3000 }, (_, i) => hostile(i));
    const { pieces, writtenBeforeFinish } = run('json', streamed, []);
    expect(writtenBeforeFinish).toBeGreaterThan(5);
    expect(Math.max(...pieces.map((p) => p.length))).toBeLessThan(70_000);
  });

  it.each(['json', 'table'] as const)(
    'writes the entries held to the end (the rotated apps) in pieces of about 64 KB too (%s)',
    (writer) => {
      const held = Array.from({ length: 3000 }, (_, i) => rotated(i));
      const { pieces, writtenBeforeFinish, report } = run(writer, [hostile(1)], held);
      expect(writtenBeforeFinish).toBe(0);
      expect(pieces.length).toBeGreaterThan(5);
      expect(Math.max(...pieces.map((p) => p.length))).toBeLessThan(70_000);
      const text = pieces.join('');
      if (writer === 'json') expect(JSON.parse(text)).toEqual({ ...report, apps: [hostile(1), ...held] });
      else expect(text).toBe(`${formatTable({ ...report, apps: [hostile(1), ...held] })}\n`);
    },
  );

  it('writes a small report at once, at the end', () => {
    const { pieces, writtenBeforeFinish } = run('json', [hostile(1), hostile(2)], [rotated(1)]);
    expect(writtenBeforeFinish).toBe(0);
    expect(pieces).toHaveLength(1);
  });

  it('prints nothing when the run failed before it started (no partial result)', () => {
    const pieces: string[] = [];
    const w = new JsonReportWriter((s) => pieces.push(s));
    w.start(head);
    w.app(hostile(1));
    expect(w.fail('Graph said no')).toBe(false);
    expect(pieces).toEqual([]);
  });

  it('closes a report cut short into one whole JSON document that says so and counts what it lists', () => {
    const pieces: string[] = [];
    const w = new JsonReportWriter((s) => pieces.push(s));
    w.start(head);
    const streamed = Array.from({ length: 1000 }, (_, i) => hostile(i));
    for (const e of streamed) w.app(e);
    expect(w.fail('Graph answered 503 (ServiceUnavailable)', cutShort(streamed))).toBe(true);
    const doc = JSON.parse(pieces.join('')) as Report & { error: string };
    expect(doc.apps).toEqual(streamed);
    expect(doc.summary).toEqual(summarize(streamed));
    expect(doc.error).toMatch(/failed before it could finish.*only the apps settled.*503/);
  });
});

describe('JSON report writer, run cut short with what it had done', () => {
  it("lists the streamed and the held apps, the run's summary and notes, and the error", () => {
    const pieces: string[] = [];
    const w = new JsonReportWriter((s) => pieces.push(s));
    w.start(head);
    const streamed = [hostile(1), hostile(2)];
    for (const e of streamed) w.app(e);
    const held = [rotated(1)];
    const partial: Report = {
      ...head,
      finishedAt: '2026-01-01T00:00:05.000Z',
      apps: held,
      summary: summarize([...streamed, ...held]),
      notes: ['mail sent'],
    };
    expect(w.fail('Graph answered 503', partial)).toBe(true);
    w.app(hostile(3)); // an app that settles after the report was closed changes nothing
    const doc = JSON.parse(pieces.join('')) as Report & { error: string };
    expect(doc).toEqual({ ...partial, apps: [...streamed, ...held], error: expect.stringMatching(/503$/) });
  });
});

describe('table report writer', () => {
  it('prints what formatTable prints for the same apps, the held ones last', () => {
    const streamed = Array.from({ length: 800 }, (_, i) => hostile(i));
    const held = [rotated(1), rotated(2)];
    const { text, report, writtenBeforeFinish } = run('table', streamed, held, ['one note']);
    expect(text).toBe(`${formatTable({ ...report, apps: [...streamed, ...held] })}\n`);
    expect(writtenBeforeFinish).toBeGreaterThan(0);
    expect(text.split('\n').filter((l) => l.startsWith('app ')).length).toBe(800); // one line per app
  });

  it('says a cut-short table is incomplete', () => {
    const pieces: string[] = [];
    const w = new TableReportWriter((s) => pieces.push(s));
    w.start(head);
    const streamed = Array.from({ length: 1000 }, (_, i) => hostile(i));
    for (const e of streamed) w.app(e);
    expect(w.fail('boom', cutShort(streamed))).toBe(true);
    expect(pieces.join('')).toMatch(
      /failed before it could finish.*only the apps settled until then \(1000 apps\): boom\n$/,
    );
  });
});
