// The status page as one self-contained HTML document: inline CSS and SVG, no script, no external asset (the
// Content-Security-Policy the endpoint sends forbids them anyway). Every tenant value (display names above all) is
// cleaned of control/bidi characters and HTML-escaped: an app may be called `<img src=x onerror=…>`.
import { cleanText, escapeHtml } from '../notify/render.js';
import { isFailing, type StatusApp, type StatusPage, type StatusRun, type StatusSecret } from './model.js';

const DAY = 86_400_000;
const text = (s: string | undefined | null) => escapeHtml(cleanText(s));
const ymd = (iso: string | undefined) => (iso ? cleanText(iso.slice(0, 10)) : '—');
const day = (iso: string | undefined) => escapeHtml(ymd(iso));

function inDays(iso: string | undefined, now: number): string {
  if (!iso) return '';
  const d = Math.round((Date.parse(iso) - now) / DAY);
  if (Number.isNaN(d)) return '';
  if (d === 0) return 'today';
  return d > 0 ? `in ${d} day${d === 1 ? '' : 's'}` : `${-d} day${d === -1 ? '' : 's'} ago`;
}

const BADGE: Record<StatusApp['action'], [string, string]> = {
  failed: ['failed', 'bad'],
  'would-rotate': ['due now', 'due'],
  rotated: ['rotated', 'ok'],
  'up-to-date': ['up to date', 'ok'],
  skipped: ['skipped', 'off'],
};

/** The timeline's span: a month back, to the last expiry (at least 3 months ahead, at most 2 years). */
function span(page: StatusPage): { from: number; to: number } {
  const now = Date.parse(page.generatedAt);
  const ends = page.apps
    .flatMap((a) => a.secrets.map((s) => Date.parse(s.expiresOn)))
    .filter(Number.isFinite);
  const last = Math.max(now, ...ends) + 15 * DAY;
  return { from: now - 30 * DAY, to: Math.min(Math.max(last, now + 90 * DAY), now + 730 * DAY) };
}

type Scale = (t: number) => number; // time → 0..100 (percent of the track)

function secretBar(s: StatusSecret, x: Scale, now: number, a: StatusApp): string {
  const start = x(Date.parse(s.startsOn));
  const end = x(Date.parse(s.expiresOn));
  if (!(end > start)) return '';
  const expired = Date.parse(s.expiresOn) <= now;
  const state = a.action === 'skipped' ? 'off' : a.action === 'would-rotate' ? 'due' : 'ok';
  const cls = expired ? 'expired' : s.current ? `current ${state}` : 'other';
  const title = `${s.madeBy === 'rotator' ? 'made by the rotator' : `made by a person${s.name ? ` ("${cleanText(s.name)}")` : ''}`}, keyId ${cleanText(s.keyId)}, ${ymd(s.startsOn)} → ${ymd(s.expiresOn)}${s.current ? ' (current)' : ''}`;
  const h = s.current ? 12 : 6;
  return `<rect class="bar ${cls}" x="${start.toFixed(2)}" y="${(24 - h) / 2}" width="${(end - start).toFixed(2)}" height="${h}" rx="1"><title>${escapeHtml(title)}</title></rect>`;
}

function timeline(a: StatusApp, x: Scale, now: number): string {
  const bars = a.secrets.map((s) => secretBar(s, x, now, a)).join('');
  const dueAt = a.nextDueOn && a.expiresOn ? x(Date.parse(a.nextDueOn)) : undefined;
  const window =
    dueAt !== undefined && a.expiresOn
      ? `<rect class="window" x="${dueAt.toFixed(2)}" y="2" width="${Math.max(0, x(Date.parse(a.expiresOn)) - dueAt).toFixed(2)}" height="20"><title>renewal window: due from ${day(a.nextDueOn)}</title></rect>`
      : '';
  const label = a.expiresOn
    ? `current secret expires ${day(a.expiresOn)} (${inDays(a.expiresOn, now)})`
    : a.secrets.length
      ? 'no valid client secret'
      : 'no client secret';
  return (
    `<svg class="timeline" role="img" aria-label="${escapeHtml(label)}" viewBox="0 0 100 24" preserveAspectRatio="none">` +
    `${window}${bars}<line class="now" x1="${x(now).toFixed(2)}" x2="${x(now).toFixed(2)}" y1="0" y2="24"/></svg>`
  );
}

/** Month labels above the tracks, placed in percent so they line up with the SVGs at any width. */
function axis(x: Scale, from: number, to: number, now: number): string {
  const ticks: string[] = [];
  const d = new Date(from);
  const step = to - from > 400 * DAY ? 3 : 1;
  for (let m = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)); m.getTime() < to;) {
    const label = m.getUTCMonth() === 0 ? String(m.getUTCFullYear()) : m.toISOString().slice(5, 7);
    ticks.push(`<span class="tick" style="left:${x(m.getTime()).toFixed(2)}%">${label}</span>`);
    m = new Date(Date.UTC(m.getUTCFullYear(), m.getUTCMonth() + step, 1));
  }
  ticks.push(`<span class="tick now" style="left:${x(now).toFixed(2)}%">today</span>`);
  return `<div class="axis">${ticks.join('')}</div>`;
}

function statusCell(a: StatusApp, now: number): string {
  const [label, cls] = BADGE[a.action];
  const verdict = `<span class="badge ${cls}">${label}</span>${a.reason ? `<small class="reason">${text(a.reason)}</small>` : ''}`;
  const last = a.lastRun;
  if (last?.action !== 'failed' || a.action === 'failed') return verdict;
  // The scan may find the app merely due while its last rotation failed: the failure is what needs a person.
  return (
    `<span class="badge bad">last run failed</span><small class="reason">${day(last.startedAt)} (${inDays(last.startedAt, now)}): ${text(last.reason)}</small>` +
    `<small class="then">now: ${label}</small>`
  );
}

const dated = (iso: string | undefined, now: number) =>
  iso ? `<span class="date">${day(iso)}</span><small>${inDays(iso, now)}</small>` : '—';

function appRow(a: StatusApp, x: Scale, now: number): string {
  const cls = isFailing(a) ? 'bad' : BADGE[a.action][1];
  const due = a.action === 'would-rotate' ? 'now' : dated(a.nextDueOn, now);
  return (
    `<tr class="app ${cls}"><th scope="row"><span class="name">${text(a.displayName) || '(no name)'}</span><code>${text(a.appId)}</code></th>` +
    `<td class="track">${timeline(a, x, now)}</td>` +
    `<td>${dated(a.expiresOn, now)}</td><td>${a.lastRotatedAt ? dated(a.lastRotatedAt, now) : 'never'}</td><td>${due}</td>` +
    `<td>${statusCell(a, now)}</td></tr>`
  );
}

function runRow(r: StatusRun): string {
  const who = r.requestedBy
    ? text(r.requestedBy.name ?? r.requestedBy.appId ?? r.requestedBy.oid)
    : (({ timer: 'the schedule', cli: 'an operator (CLI)' } as Record<string, string>)[r.trigger] ?? '—');
  const failures = r.failures.length
    ? `<ul class="failures">${r.failures.map((f) => `<li><b>${text(f.displayName) || text(f.appId)}</b>: ${text(f.reason)}</li>`).join('')}</ul>`
    : '';
  return (
    `<tr class="run ${r.outcome}"><td>${text(r.startedAt.slice(0, 16).replace('T', ' '))} UTC<code>${text(r.runId)}</code></td>` +
    `<td>${text(r.trigger)}</td><td>${who}</td><td>${r.scanned}</td><td>${r.rotated}</td><td>${r.failed}</td>` +
    `<td><span class="outcome">${r.outcome}</span>${failures}</td></tr>`
  );
}

const CSS = `
body{margin:0;font:14px/1.4 'Segoe UI',Helvetica,Arial,sans-serif;color:#242424;background:#f5f5f5}
main{max-width:1200px;margin:0 auto;padding:16px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{color:#616161;margin:0 0 12px}.counts span{margin-right:12px}
.scroll{overflow-x:auto;background:#fff;border:1px solid #ddd}
table{border-collapse:collapse;width:100%}
th,td{padding:6px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
thead th{font-size:12px;color:#616161;font-weight:600;background:#fafafa}
tbody th{font-weight:normal;min-width:160px;max-width:260px;overflow-wrap:anywhere}
.name{display:block;font-weight:600}code{display:block;font:11px Consolas,'Courier New',monospace;color:#616161}
small{display:block;color:#616161;font-size:12px}.reason{max-width:280px;overflow-wrap:anywhere}
td.track{width:40%;min-width:240px;padding:6px 0}
svg.timeline{display:block;width:100%;height:24px}
.bar.current.ok{fill:#107c10}.bar.current.due{fill:#c87000}.bar.current.off{fill:#8a8886}.bar.other{fill:#a0a0a0}.bar.expired{fill:#d13438;opacity:.45}
.window{fill:#fff4ce}.now{stroke:#0f6cbd;stroke-width:.4}
.axis{position:relative;height:30px;font-size:11px;color:#616161}
.tick{position:absolute;top:0;transform:translateX(-50%);white-space:nowrap}.tick.now{color:#0f6cbd;top:15px;font-weight:600}
.date{white-space:nowrap}.then{margin-top:2px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.badge.ok{background:#dff6dd;color:#0e700e}.badge.due{background:#fff4ce;color:#8a5300}
.badge.bad{background:#fde7e9;color:#b10e1c}.badge.off{background:#eee;color:#616161}
tr.app.bad th,tr.app.bad td{background:#fff8f8}
tr.run.failed td{background:#fde7e9}tr.run.failed td:first-child{box-shadow:inset 4px 0 #c50f1f}
.outcome{font-weight:600}tr.run.failed .outcome{color:#b10e1c}tr.run.succeeded .outcome{color:#0e700e}
.failures{margin:4px 0 0;padding-left:16px;overflow-wrap:anywhere}
.legend span{margin-right:14px;white-space:nowrap}.legend i{display:inline-block;width:18px;height:8px;margin-right:4px;vertical-align:middle}
`;

export function renderStatusHtml(page: StatusPage): string {
  const now = Date.parse(page.generatedAt);
  const { from, to } = span(page);
  const x: Scale = (t) => Math.min(100, Math.max(0, ((t - from) / (to - from)) * 100));
  const count = (action: StatusApp['action']) =>
    page.apps.filter((a) => a.action === action && !isFailing(a)).length;
  const lastFailed = page.runs.filter((r) => r.outcome === 'failed').length;
  return [
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>Secret rotation status</title><style>${CSS}</style></head><body><main>`,
    `<h1>Secret rotation status</h1><p class="meta">${page.apps.length} app${page.apps.length === 1 ? '' : 's'} in scope (${text(page.scope)}), as of ${text(page.generatedAt.slice(0, 16).replace('T', ' '))} UTC.</p>`,
    `<p class="counts"><span>${count('up-to-date')} up to date</span><span>${count('would-rotate')} due now</span><span>${count('skipped')} skipped</span><span>${page.apps.filter(isFailing).length} failing</span><span>${lastFailed} of the last ${page.runs.length} run${page.runs.length === 1 ? '' : 's'} with failures</span></p>`,
    ...page.notes.map((n) => `<p class="meta">Note: ${text(n)}</p>`),
    '<h2>Apps</h2>',
    '<p class="legend"><span><i style="background:#107c10"></i>current secret</span><span><i style="background:#c87000"></i>current secret, due</span><span><i style="background:#8a8886"></i>current secret, not rotated (skipped)</span><span><i style="background:#a0a0a0;height:4px"></i>other secret</span><span><i style="background:#d13438;opacity:.45;height:4px"></i>expired</span><span><i style="background:#fff4ce;border:1px solid #e0c060"></i>renewal window</span><span><i style="background:#0f6cbd;width:2px"></i>today</span></p>',
    '<div class="scroll"><table class="apps"><thead><tr><th>App</th>',
    `<th>${axis(x, from, to, now)}</th><th>Current secret expires</th><th>Last rotation</th><th>Next due</th><th>Status</th></tr></thead><tbody>`,
    ...page.apps.map((a) => appRow(a, x, now)),
    page.apps.length ? '' : '<tr><td colspan="6">No app in scope.</td></tr>',
    '</tbody></table></div>',
    '<h2>Last runs</h2>',
    '<div class="scroll"><table class="runs"><thead><tr><th>Started</th><th>Trigger</th><th>Requested by</th><th>Apps</th><th>Rotated</th><th>Failed</th><th>Outcome</th></tr></thead><tbody>',
    ...page.runs.map(runRow),
    page.runs.length
      ? ''
      : '<tr><td colspan="7">No run recorded in the run table yet (CLI runs are not recorded).</td></tr>',
    '</tbody></table></div>',
    '</main></body></html>',
  ].join('\n');
}
