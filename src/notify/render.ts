// The message a recipient gets: a subject with counts, a plain-text part and an equivalent HTML part.
// Pure. Every value that comes from the tenant (display names above all) is user input: it is cleaned of
// control and bidi characters in both parts and HTML-escaped in the HTML part.
import type { Digest, NotifiableApp } from './digest.js';

export interface RenderContext {
  runId: string;
  generatedAt: Date;
  tenantId?: string;
  productUrl?: string;
}

export interface RenderedMessage {
  subject: string;
  plainText: string;
  html: string;
}

const PRODUCT = 'entra-secret-rotator';
const MAX_VALUE = 300;

// eslint-disable-next-line no-control-regex
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Control characters would let a display name forge lines in the plain text; bidi overrides can disguise
 *  what a reader sees. Long values are cut so one app cannot bloat everyone's message. */
export function cleanText(value: string | null | undefined): string {
  if (value === null || value === undefined) return '';
  const s = value.replace(UNSAFE_CHARS, ' ').trim();
  return s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE)}…` : s;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** 2026-03-01 03:00 UTC; an unparseable value is shown as it came. */
function when(iso: string | undefined): string {
  if (!iso) return 'unknown';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return cleanText(iso);
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function relative(iso: string, now: Date): string {
  const ms = new Date(iso).getTime() - now.getTime();
  if (Number.isNaN(ms)) return '';
  const days = Math.floor(Math.abs(ms) / 86_400_000);
  if (ms < 0) return days === 0 ? 'expired today' : `expired ${days} day${days === 1 ? '' : 's'} ago`;
  return days === 0 ? 'today' : `in ${days} day${days === 1 ? '' : 's'}`;
}

/** The versionless form of a versioned secret id, as consumers should reference it. */
export function versionlessSecretUri(secretUri: string): string | undefined {
  try {
    const u = new URL(secretUri);
    const parts = u.pathname.split('/').filter(Boolean);
    if (parts[0] !== 'secrets' || !parts[1]) return undefined;
    return `${u.origin}/secrets/${parts[1]}/`;
  } catch {
    return undefined;
  }
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

const SUBJECT_NAME_MAX = 60;

/** The app as the subject names it: its display name (cleaned, short, quoted), else its appId. */
function subjectName(a: NotifiableApp): string {
  const name = cleanText(a.displayName);
  if (!name) return cleanText(a.appId);
  return `"${name.length > SUBJECT_NAME_MAX ? `${name.slice(0, SUBJECT_NAME_MAX - 1)}…` : name}"`;
}

/** Counts; a message about one app names it, so a reader can tell messages apart in a list. */
export function subjectFor(apps: NotifiableApp[]): string {
  if (apps.length === 1) {
    const a = apps[0]!;
    const what = {
      rotated: `client secret rotated for ${subjectName(a)}`,
      failed: `rotation failed for ${subjectName(a)}`,
      reminder: `${subjectName(a)} has expiring credentials`,
    }[a.action];
    return `Entra app secrets: ${what}`;
  }
  const rotated = apps.filter((a) => a.action === 'rotated').length;
  const failed = apps.filter((a) => a.action === 'failed').length;
  const reminders = apps.filter((a) => a.action === 'reminder').length;
  const parts: string[] = [];
  if (rotated) parts.push(plural(rotated, 'client secret rotated', 'client secrets rotated'));
  if (failed)
    parts.push(rotated ? `${failed} failed` : plural(failed, 'rotation failed', 'rotations failed'));
  if (reminders)
    parts.push(plural(reminders, 'app with expiring credentials', 'apps with expiring credentials'));
  return `Entra app secrets: ${parts.length ? parts.join(', ') : 'nothing to report'}`;
}

// One neutral model of what each app's entry says, rendered twice (text and HTML), so both parts say the same.
type Text = string; // already cleaned, not escaped
interface Field {
  label: string;
  value: Text;
  mono?: boolean;
}
interface Entry {
  title: Text;
  fields: Field[];
  todo: Text[];
}
interface Section {
  heading: string;
  color: string;
  entries: Entry[];
}

function rotatedEntry(a: NotifiableApp): Entry {
  // Presence is judged on cleaned values, so a whitespace-only field shows as absent, not as an empty row.
  const keyId = cleanText(a.keyId);
  const credentialName = cleanText(a.credentialName);
  const secretUri = cleanText(a.secretUri);
  const retiresOn = cleanText(a.oldSecretRetiresOn);
  const fields: Field[] = [{ label: 'Application (client) ID', value: cleanText(a.appId), mono: true }];
  const name = credentialName ? ` ("${credentialName}")` : '';
  if (keyId) fields.push({ label: 'New secret', value: `keyId ${keyId}${name}`, mono: true });
  fields.push({ label: 'New secret expires', value: when(a.expiresOn) });
  if (secretUri) fields.push({ label: 'Key Vault secret', value: secretUri, mono: true });
  const old = (a.oldKeyIds ?? []).map(cleanText).filter(Boolean);
  const revoked = (a.revokedKeyIds ?? []).map(cleanText).filter(Boolean);
  if (revoked.length) {
    // An emergency rotation: say plainly which secrets stopped working, people's included.
    fields.push({
      label: 'Revoked now',
      value: `keyId ${revoked.join(', ')}: emergency rotation; ${revoked.length === 1 ? 'this secret no longer works' : 'these secrets no longer work'}`,
      mono: true,
    });
  } else if (old.length) {
    fields.push({ label: 'Replaces', value: `keyId ${old.join(', ')}`, mono: true });
    fields.push({
      label: 'Old secret removed',
      value: retiresOn
        ? when(retiresOn)
        : 'not by the rotator (it was not created by the rotator); it stays valid until it expires',
    });
  } else {
    // Nothing was superseded: no earlier secret was still valid when the rotator made this one.
    fields.push({
      label: 'Old secret',
      value: 'none still valid: every earlier client secret of this app had already expired',
    });
  }
  const ref = secretUri ? versionlessSecretUri(secretUri) : undefined;
  const deadline =
    !old.length || revoked.length
      ? 'now (the old secret no longer works)'
      : retiresOn
        ? `before ${when(retiresOn)}`
        : 'before the old secret expires';
  const todo = ref
    ? [
        `Nothing, if your application reads the secret through a Key Vault reference without a version: @Microsoft.KeyVault(SecretUri=${cleanText(ref)}) picks up the new version by itself (App Service and Functions re-read references within 24 hours).`,
        `Otherwise (a reference pinned to a version, or a copy of the value), switch to the new version ${deadline}.`,
      ]
    : [`Read the new secret from Key Vault and update every consumer ${deadline}.`];
  return { title: cleanText(a.displayName) || cleanText(a.appId), fields, todo };
}

function failedEntry(a: NotifiableApp): Entry {
  return {
    title: cleanText(a.displayName) || cleanText(a.appId),
    fields: [
      { label: 'Application (client) ID', value: cleanText(a.appId), mono: true },
      { label: 'Reason', value: cleanText(a.reason) || 'not recorded' },
    ],
    todo: [
      'Your consumers keep the secret they use now; it stays valid until it expires.',
      'The rotator tries again on its next run. If the reason names a permission, a tag or a tenant policy, fix that; if the current secret expires before a run succeeds, ask the team that runs the rotator to rotate this app by hand.',
    ],
  };
}

function reminderEntry(a: NotifiableApp, now: Date): Entry {
  const fields: Field[] = [{ label: 'Application (client) ID', value: cleanText(a.appId), mono: true }];
  const note = cleanText(a.reason);
  if (note) fields.push({ label: 'Note', value: note });
  for (const c of a.expiring ?? []) {
    const kind = c.kind === 'certificate' ? 'Certificate' : 'Client secret';
    const credName = cleanText(c.displayName);
    const name = credName ? ` "${credName}"` : '';
    const rel = relative(c.endDateTime, now);
    fields.push({
      label: `${kind}${name}`,
      value: `keyId ${cleanText(c.keyId)}: expires ${when(c.endDateTime)}${rel ? ` (${rel})` : ''}`,
      mono: false,
    });
  }
  return {
    title: cleanText(a.displayName) || cleanText(a.appId),
    fields,
    todo: [
      'This app is not rotated automatically. Add a new credential, move every consumer to it, then remove the old one, before the date above.',
    ],
  };
}

/** A notice an earlier run could not deliver says so, so the reader does not take old news for today's. */
function held(entry: (a: NotifiableApp) => Entry): (a: NotifiableApp) => Entry {
  return (a) => {
    const e = entry(a);
    if (a.heldSince)
      e.fields.push({
        label: 'Delayed notice',
        value: `from the run of ${when(a.heldSince)}; it could not be emailed then`,
      });
    return e;
  };
}

function sections(apps: NotifiableApp[], now: Date): Section[] {
  const pick = (action: NotifiableApp['action']) => apps.filter((a) => a.action === action);
  const out: Section[] = [
    { heading: 'Rotation failed', color: '#c50f1f', entries: pick('failed').map(held(failedEntry)) },
    { heading: 'Client secret rotated', color: '#107c10', entries: pick('rotated').map(held(rotatedEntry)) },
    {
      heading: 'Credentials expiring soon',
      color: '#c87000',
      entries: pick('reminder').map(held((a) => reminderEntry(a, now))),
    },
  ];
  return out.filter((s) => s.entries.length > 0);
}

function footerLines(ctx: RenderContext): string[] {
  const lines = [
    `You receive this because you own these app registrations, are named in their rotation:notify tag, or are on the rotator's NOTIFY_ALSO list. The message never contains a secret value.`,
    `Run ${cleanText(ctx.runId)}, ${when(ctx.generatedAt.toISOString())}${ctx.tenantId ? `, tenant ${cleanText(ctx.tenantId)}` : ''}.`,
  ];
  return lines;
}

function safeHttpUrl(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : undefined;
  } catch {
    return undefined;
  }
}

function renderText(subject: string, secs: Section[], ctx: RenderContext): string {
  const out: string[] = [subject, ''];
  for (const s of secs) {
    out.push(`== ${s.heading} (${s.entries.length}) ==`, '');
    for (const e of s.entries) {
      out.push(e.title);
      for (const f of e.fields) out.push(`  ${f.label}: ${f.value}`);
      out.push('  What to do:');
      for (const t of e.todo) out.push(`  - ${t}`);
      out.push('');
    }
  }
  out.push('--', ...footerLines(ctx));
  const url = safeHttpUrl(ctx.productUrl);
  if (url) out.push(`About ${PRODUCT}: ${url}`);
  return out.join('\n') + '\n';
}

const FONT = "font-family:'Segoe UI',Helvetica,Arial,sans-serif;";
const MONO = "font-family:Consolas,'Courier New',monospace;font-size:13px;";
const NOWRAP = '<span style="white-space:nowrap;">';
/** A piece longer than this may not fit a phone's line: it may wrap anywhere rather than scroll the message. */
const MAX_UNBROKEN = 44;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[),.;:]?$/i;

/**
 * Escaped HTML of a text in which identifiers never break mid-word: a GUID is kept on one line (browsers would
 * break it after a hyphen), and a long URL or Key Vault reference breaks only after `/`, `(` or `=`. The
 * container's overflow-wrap is the last resort for a piece too long for any screen (so nothing scrolls sideways).
 */
export function breakableHtml(text: string): string {
  return text
    .split(/(\s+)/)
    .map((token) => {
      if (/^\s*$/.test(token)) return token;
      if (GUID.test(token)) return `${NOWRAP}${escapeHtml(token)}</span>`;
      if (token.length <= 24 || !/[/(=]/.test(token)) return escapeHtml(token);
      return token
        .split(/(?<=[/(=])(?!\/)/)
        .map((piece) =>
          piece.length <= MAX_UNBROKEN ? `${NOWRAP}${escapeHtml(piece)}</span>` : escapeHtml(piece),
        )
        .join('<wbr>');
    })
    .join('');
}

function renderHtml(subject: string, secs: Section[], ctx: RenderContext): string {
  const h: string[] = [];
  // One column throughout (labels above values): it reads the same on a 400 px phone and a desktop client,
  // without media queries that many mail clients drop.
  const WRAP = 'overflow-wrap:anywhere;word-wrap:break-word;';
  h.push(
    '<!DOCTYPE html>',
    '<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(subject)}</title></head>`,
    `<body style="margin:0;padding:0;background:#f3f3f3;${FONT}">`,
    '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f3f3f3;table-layout:fixed;"><tr><td align="center" style="padding:16px 8px;">',
    `<table role="presentation" width="640" cellpadding="0" cellspacing="0" border="0" style="width:100%;max-width:640px;background:#ffffff;border:1px solid #dddddd;table-layout:fixed;${FONT}font-size:14px;line-height:20px;color:#242424;">`,
    `<tr><td style="padding:16px 20px;border-bottom:1px solid #dddddd;font-size:18px;line-height:24px;font-weight:bold;${WRAP}">${escapeHtml(subject)}</td></tr>`,
  );
  for (const s of secs) {
    h.push(
      `<tr><td style="padding:16px 20px 4px 20px;"><div style="border-left:4px solid ${s.color};padding-left:8px;font-size:16px;font-weight:bold;color:${s.color};">${escapeHtml(s.heading)} (${s.entries.length})</div></td></tr>`,
    );
    for (const e of s.entries) {
      h.push(
        '<tr><td style="padding:8px 20px;">',
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border:1px solid #e1e1e1;border-collapse:collapse;table-layout:fixed;">',
        `<tr><td style="padding:8px 10px;background:#fafafa;font-weight:bold;border-bottom:1px solid #e1e1e1;${WRAP}">${escapeHtml(e.title)}</td></tr>`,
      );
      for (const f of e.fields) {
        h.push(
          `<tr><td style="padding:6px 10px 0 10px;color:#616161;font-size:12px;line-height:16px;">${escapeHtml(f.label)}</td></tr>` +
            `<tr><td style="padding:0 10px 4px 10px;${WRAP}${f.mono ? MONO : ''}">${breakableHtml(f.value)}</td></tr>`,
        );
      }
      h.push(
        `<tr><td style="padding:6px 10px 0 10px;color:#616161;font-size:12px;line-height:16px;">What to do</td></tr><tr><td style="padding:0 10px 8px 10px;${WRAP}">` +
          e.todo.map((t) => `<p style="margin:0 0 6px 0;">${breakableHtml(t)}</p>`).join('') +
          '</td></tr>',
        '</table>',
        '</td></tr>',
      );
    }
  }
  const url = safeHttpUrl(ctx.productUrl);
  const about = url ? `<br><a href="${escapeHtml(url)}" style="color:#0f6cbd;">About ${PRODUCT}</a>` : '';
  h.push(
    `<tr><td style="padding:16px 20px;border-top:1px solid #dddddd;font-size:12px;line-height:18px;color:#616161;${WRAP}">${footerLines(ctx).map(breakableHtml).join('<br>')}${about}</td></tr>`,
    '</table>',
    '</td></tr></table>',
    '</body></html>',
  );
  return h.join('\n');
}

export function renderDigest(d: Digest, ctx: RenderContext): RenderedMessage {
  const subject = subjectFor(d.apps);
  const secs = sections(d.apps, ctx.generatedAt);
  return { subject, plainText: renderText(subject, secs, ctx), html: renderHtml(subject, secs, ctx) };
}
