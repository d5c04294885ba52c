// `npm run demo`: a real rotation against an embedded simulated tenant. Starts the simulated cloud (Entra ID,
// Microsoft Graph, Key Vault, ACS Email), then runs the compiled CLI as an operator would: scan, rotate, rotate
// again, and writes what came out to demo-output/: every email sent, the operator's status page, and an index.
// Each step is announced before its output; the CLI's progress log (stderr) is shown dimmed as it happens.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { escapeHtml } from '../src/notify/render.js';
import {
  formatRow,
  summaryLines,
  TABLE_HEADER,
  type AppReport,
  type Report,
} from '../src/rotation/report.js';
import { connect } from '../src/run.js';
import { loadSettings } from '../src/settings.js';
import { gatherStatus } from '../src/status/gather.js';
import { renderStatusHtml } from '../src/status/html.js';
import type { StatusInput } from '../src/status/model.js';
import { startSimCloud } from '../test/sim/cloud.js';
import { seedDemoTenant, type DemoTenant } from '../test/sim/seed.js';
import type { MailMessage } from '../test/sim/acs.js';

const root = resolve(import.meta.dirname, '..');
const out = join(root, 'demo-output');
const tty = process.stdout.isTTY;
const bold = (s: string) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (tty ? `\x1b[2m${s}\x1b[0m` : s);
const say = (...lines: string[]) => console.log(lines.join('\n'));

/** One line per seeded app: what is unusual about it and what the rotator should do. */
const SEEDED: Partial<Record<keyof DemoTenant['apps'], string>> = {
  due: 'one secret expiring in 10 days: due, rotated',
  expired: 'every secret has expired (its consumers are already failing): rotated',
  upToDate: 'one secret expiring in 200 days: up to date, left alone',
  twoSecrets: 'an old secret expiring in 5 days and a newer one in 300: the newer is current, up to date',
  disabled: 'tagged rotation:disabled: never touched, although due',
  malformedTag: 'tag rotation:renewBeforeDays=soon (not a number): skipped, the reason names the tag',
  unknownTag: 'tag rotation:lifetimedays=90 (a typo of lifetimeDays): skipped, the reason names the tag',
  customName:
    'its own Key Vault secret name (rotation:secretName) and an extra recipient (rotation:notify): rotated',
  certificateOnly: 'a certificate, no client secret: skipped (the rotator never adds a secret)',
  personal:
    'accepts personal accounts, so at most 2 secrets, both made by people: the rotation fails and says why',
  hostile: 'a display name full of HTML markup: emails and the status page must show it as plain text',
  notOwned: "due, but the rotator's identity is not an owner: outside the scope, never listed",
};

const cloud = await startSimCloud({ replicationDelayMs: 1500 });
try {
  const demo = seedDemoTenant(cloud);
  const env = {
    ...process.env,
    ...cloud.env,
    VERIFY_TIMEOUT_SECONDS: '30',
    NOTIFY_ALSO: 'secops@contoso.com',
  };

  // Async, not spawnSync: the simulated cloud answers from this very process. Output is relayed as it arrives, so
  // progress lines appear before the table they lead to.
  const cli = (...args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
      const child = spawn(process.execPath, [join(root, 'dist/src/cli.js'), ...args], { env });
      let stdout = '';
      let stderr = '';
      const json = args.includes('--json');
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (!json) process.stdout.write(d);
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        process.stdout.write(dim(d.toString()));
      });
      child.on('close', (status) => done({ status, stdout, stderr }));
    });

  interface Run {
    label: string;
    report: Report;
    mail: MailMessage[];
  }
  const runs: Run[] = [];
  /** A rotate run: JSON report kept for demo-output/, shown as the same table the CLI prints without --json. */
  const rotate = async (label: string) => {
    const sentBefore = cloud.mail.messages.length;
    const r = await cli('rotate', '--json');
    if (r.status !== 0 && r.status !== 1) throw new Error(`rotate exited with ${r.status}:\n${r.stderr}`);
    const report = JSON.parse(r.stdout) as Report;
    say([TABLE_HEADER, ...report.apps.map(formatRow), '', ...summaryLines(report)].join('\n'));
    const mail = cloud.mail.messages.slice(sentBefore);
    say(dim(`(exit code ${r.status}; ${mail.length} email${mail.length === 1 ? '' : 's'} sent by this run)`));
    runs.push({ label, report, mail });
    return { ...r, report };
  };

  const ownedCount = Object.values(demo.apps).filter((a) => a && a !== demo.apps.notOwned).length;
  say(
    bold(`\nSimulated tenant ${cloud.tenant.tenantId}: ${cloud.tenant.applications.size} app registrations.`),
    `${ownedCount} are owned by the rotator's managed identity (ROTATION_SCOPE=owned). What each one is for:`,
    ...Object.entries(SEEDED).flatMap(([key, why]) => {
      const app = demo.apps[key as keyof DemoTenant['apps']];
      return app ? [`  ${app.displayName.padEnd(34)} ${why}`] : [];
    }),
    'New secrets start working 1.5 s after they are made (simulated Entra replication): the rotator proves each',
    'one works before storing it, so a rotation takes a few seconds.',
  );

  say(bold('\n1. Scan: what a rotation would do now. Changes nothing.'), bold('$ entra-secret-rotator scan'));
  await cli('scan');

  say(
    bold('\n2. Rotate. The due apps get a new secret: made, proven, stored in Key Vault, owners emailed.'),
    bold('   Contoso Rewards App is expected to fail (no room for a third secret) and its owners are told.'),
    bold('$ entra-secret-rotator rotate --json   # shown as the table the CLI prints without --json'),
  );
  const first = await rotate('Rotate: the due apps are rotated, one fails');
  narrationHeld(first.report, { rotated: 4, failed: [demo.apps.personal.appId] });

  say(bold('\n3. Key Vault now holds one secret per rotated app (values never printed):'));
  for (const name of cloud.vault.names()) {
    const v = cloud.vault.latest(name)!;
    say(`  ${v.id}  keyId=${v.tags.keyId}  expires ${v.expiresOn?.toISOString().slice(0, 10)}`);
  }

  say(
    bold(
      '\n4. Rotate again, as the next scheduled run would. What was rotated is now up to date; nothing new is',
    ),
    bold(
      '   rotated. Contoso Rewards App still has no room, so it fails again and its owners get the failure again.',
    ),
    bold('$ entra-secret-rotator rotate --json'),
  );
  const again = await rotate('Rotate again: nothing new to rotate; the app with no room fails again');
  narrationHeld(again.report, { rotated: 0, failed: [demo.apps.personal.appId] });

  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  say(bold('\n5. The operator status page (GET /api/status), for the tenant as it is now:'));
  Object.assign(process.env, env); // the rotator's identity, for the in-process scan
  const settings = loadSettings(env, { requireKeyVault: false });
  const status = await gatherStatus(await connect(settings, () => undefined), asStatusRuns(runs));
  writeFileSync(join(out, 'status.html'), renderStatusHtml(status));
  say(`  ${join(out, 'status.html')}: ${status.apps.length} apps, the last ${status.runs.length} runs.`);

  writeFileSync(join(out, 'index.html'), indexPage(runs, writeEmails(runs)));
  const sent = runs.reduce((n, r) => n + r.mail.length, 0);
  say(bold(`\n${sent} emails sent in all, written to ${out}/ with status.html: open index.html.`));

  // The demo checks itself: no secret leaked into anything it printed or wrote.
  const printed = [first.stdout, first.stderr, again.stdout, again.stderr, renderStatusHtml(status)]
    .concat(cloud.mail.messages.map((m) => `${m.subject}${m.html}${m.plainText}`))
    .join('\n');
  const leaked = cloud.issuedSecrets().filter((s) => printed.includes(s));
  if (leaked.length) throw new Error(`${leaked.length} secret values appeared in output: this is a bug`);
  say(
    `Checked: no secret value appears in the CLI output, logs, emails or status page (${cloud.issuedSecrets().length} secrets scanned).`,
  );
} finally {
  await cloud.stop();
}

/** The narration said what a run would do before it ran: if the product changed, the words must change too. */
function narrationHeld(report: Report, expected: { rotated: number; failed: string[] }): void {
  const failed = report.apps.filter((a) => a.action === 'failed').map((a) => a.appId);
  if (report.summary.rotated !== expected.rotated || failed.join() !== expected.failed.join())
    throw new Error(
      `the demo's narration no longer matches the run (rotated ${report.summary.rotated}, failed ${failed.join(', ') || 'none'}); update scripts/demo.ts`,
    );
}

/** The demo's CLI runs as the status page's run history (newest first). */
function asStatusRuns(runs: Array<{ report: Report }>): StatusInput['runs'] {
  return [...runs].reverse().map(({ report }) => ({
    run: {
      runId: report.runId,
      trigger: 'cli',
      startedAt: report.startedAt,
      scanned: report.summary.scanned,
      queued: 0,
      rotatedInline: report.summary.rotated,
      failedInline: report.summary.failed,
    },
    apps: report.apps
      .filter((a) => a.action === 'rotated' || a.action === 'failed')
      .map((a) => ({ appId: a.appId, source: 'inline' as const, report: a })),
  }));
}

/** Writes each email as its own file; returns the file names per run. */
function writeEmails(runs: Array<{ mail: MailMessage[] }>): string[][] {
  return runs.map((run, r) =>
    run.mail.map((m, i) => {
      const file = `run${r + 1}-${String(i + 1).padStart(2, '0')}-${m.to[0]!.replace(/[^a-z0-9.@-]/gi, '_')}.html`;
      writeFileSync(join(out, file), m.html ?? `<pre>${escapeHtml(m.plainText ?? '')}</pre>`);
      return file;
    }),
  );
}

/** Failures first, then what changed, then the rest. (A function declaration: it is used before this line runs.) */
function byOutcome(a: AppReport, b: AppReport): number {
  const order = ['failed', 'rotated', 'would-rotate', 'up-to-date', 'skipped'];
  return order.indexOf(a.action) - order.indexOf(b.action) || a.displayName.localeCompare(b.displayName);
}

function indexPage(
  runs: Array<{ label: string; report: Report; mail: MailMessage[] }>,
  files: string[][],
): string {
  const e = escapeHtml;
  const appRow = (a: AppReport) =>
    `<tr class="${e(a.action)}"><td>${e(a.displayName)}<br><code>${e(a.appId)}</code></td><td>${e(a.action)}</td><td>${e(a.reason ?? '')}${a.notified?.length ? `<br><small>emailed ${e(a.notified.join(', '))}</small>` : ''}</td></tr>`;
  const section = (run: (typeof runs)[number], r: number) => {
    const s = run.report.summary;
    const mails = run.mail
      .map(
        (m, i) =>
          `<li><a href="${e(files[r]![i]!)}">${e(m.subject)}</a><br><small>to ${e([...new Set(m.to)].join(', '))}</small></li>`,
      )
      .join('');
    return `<section><h2>Run ${r + 1}: ${e(run.label)}</h2>
<p>${s.scanned} app${s.scanned === 1 ? '' : 's'}: ${s.rotated} rotated, ${s.upToDate} up to date, ${s.skipped} skipped, ${s.failed} failed. Run <code>${e(run.report.runId)}</code>.</p>
<table><thead><tr><th>App</th><th>Outcome</th><th>Detail</th></tr></thead><tbody>${[...run.report.apps].sort(byOutcome).map(appRow).join('')}</tbody></table>
<h3>${run.mail.length} email${run.mail.length === 1 ? '' : 's'} sent</h3><ul class="mail">${mails || '<li>none</li>'}</ul></section>`;
  };
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>entra-secret-rotator demo</title><style>
body{margin:0;font:14px/1.45 'Segoe UI',Helvetica,Arial,sans-serif;color:#242424;background:#f5f5f5}
main{max-width:1000px;margin:0 auto;padding:16px}section{background:#fff;border:1px solid #ddd;padding:4px 16px 12px;margin:16px 0}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:4px 8px;border-bottom:1px solid #eee;overflow-wrap:anywhere}
code{font:12px Consolas,'Courier New',monospace;color:#616161}small{color:#616161}
td:nth-child(2){white-space:nowrap}tr.failed td{background:#fde7e9}tr.rotated td:nth-child(2){color:#0e700e;font-weight:600}tr.failed td:nth-child(2){color:#b10e1c;font-weight:600}
.mail li{margin:4px 0}
</style></head><body><main><h1>entra-secret-rotator demo</h1>
<p>Two rotation runs against a simulated tenant, with every email they sent. The <a href="status.html">status page</a> shows the tenant after both runs, as <code>GET /api/status</code> would.</p>
${runs.map(section).join('\n')}
</main></body></html>`;
}
