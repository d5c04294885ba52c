// The status page's data, pure: what counts as the current secret, when an app is next due, its last rotation, and
// how a run's rows add up to an outcome.
import { describe, expect, it } from 'vitest';
import type { AppRow } from '../../src/azure/runs.js';
import { buildStatus, isFailing, type RunInput, type StatusInput } from '../../src/status/model.js';
import type { AppReport } from '../../src/rotation/report.js';

const DAY = 86_400_000;
const now = new Date('2026-06-01T00:00:00Z');
const at = (days: number) => new Date(now.getTime() + days * DAY).toISOString();
const cred = (keyId: string, start: number, end: number, displayName: string | null = 'portal') => ({
  keyId,
  displayName,
  startDateTime: at(start),
  endDateTime: at(end),
});
const entry = (appId: string, action: AppReport['action'], over: Partial<AppReport> = {}): AppReport => ({
  appId,
  displayName: appId.toUpperCase(),
  action,
  ...over,
});
const run = (runId: string, startedDays: number, over: Partial<RunInput> = {}): RunInput => ({
  runId,
  trigger: 'timer',
  startedAt: at(startedDays),
  scanned: 3,
  queued: 0,
  rotatedInline: 0,
  failedInline: 0,
  ...over,
});
const row = (appId: string, source: AppRow['source'], report: AppReport) => ({ appId, source, report });
const build = (over: Partial<StatusInput>) =>
  buildStatus({ now, scope: 'apps the rotator owns', apps: [], facts: new Map(), runs: [], ...over });

describe('apps', () => {
  it('takes the current secret the scan names, the last rotation from the rotator’s own secrets, due = expiry − window', () => {
    const page = build({
      apps: [entry('a', 'up-to-date', { expiresOn: at(100), code: 'current-secret-valid' })],
      facts: new Map([
        [
          'a',
          {
            renewBeforeDays: 30,
            passwordCredentials: [
              cred('old', -300, -10), // expired
              cred('later', -20, 150), // valid and later, but not the one Key Vault points to
              cred('cur', -80, 100, 'entra-secret-rotator 2026-03-13'),
            ],
          },
        ],
      ]),
    });
    const a = page.apps[0]!;
    expect(a).toMatchObject({
      expiresOn: at(100),
      nextDueOn: at(70),
      lastRotatedAt: at(-80),
      code: 'current-secret-valid',
    });
    expect(a.secrets.filter((s) => s.current).map((s) => s.keyId)).toEqual(['cur']);
    expect(a.secrets.map((s) => s.keyId)).toEqual(['old', 'cur', 'later']); // by start
  });

  it('is due now when the scan would rotate it, never due when skipped, and sorts what needs a person first', () => {
    const facts = new Map([
      ['due', { renewBeforeDays: 30, passwordCredentials: [cred('d', -100, 10)] }],
      ['ok', { renewBeforeDays: 30, passwordCredentials: [cred('o', -100, 200)] }],
      ['off', { passwordCredentials: [cred('x', -100, 5)] }],
    ]);
    const page = build({
      apps: [
        entry('ok', 'up-to-date', { expiresOn: at(200) }),
        entry('off', 'skipped'),
        entry('due', 'would-rotate'),
      ],
      facts,
    });
    expect(page.apps.map((a) => [a.appId, a.nextDueOn])).toEqual([
      ['due', now.toISOString()],
      ['ok', at(170)],
      ['off', undefined],
    ]);
  });
});

describe('runs', () => {
  it('adds inline and worker rows into one outcome, failed runs list their failures, an unfinished fan-out is running', () => {
    const failed = entry('b', 'failed', { reason: 'no room' });
    const page = build({
      apps: [entry('b', 'would-rotate')],
      runs: [
        {
          run: run('new', 0, {
            queued: 2,
            rotatedInline: 1,
            trigger: 'http',
            requestedBy: { oid: 'o', name: 'Ann' },
          }),
          apps: [row('a', 'inline', entry('a', 'rotated')), row('c', 'worker', entry('c', 'rotated'))],
        },
        { run: run('mid', -1, { queued: 1 }), apps: [row('b', 'worker', failed)] },
        {
          run: run('old', -2, { failedInline: 1, rotatedInline: 1 }),
          apps: [row('b', 'inline', entry('b', 'rotated'))],
        },
      ],
    });
    expect(page.runs.map((r) => [r.runId, r.outcome, r.rotated, r.failed])).toEqual([
      ['new', 'running', 2, 0],
      ['mid', 'failed', 0, 1],
      ['old', 'failed', 1, 1],
    ]);
    expect(page.runs[0]!.requestedBy).toEqual({ oid: 'o', name: 'Ann' });
    expect(page.runs[1]!.failures).toEqual([{ appId: 'b', displayName: 'B', reason: 'no room' }]);
    // The app's newest recorded result is the failure of run "mid": it needs a person although the scan says due.
    expect(page.apps[0]!.lastRun).toMatchObject({ runId: 'mid', action: 'failed', reason: 'no room' });
    expect(isFailing(page.apps[0]!)).toBe(true);
  });
});
