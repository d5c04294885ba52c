// `npm run demo`: a real rotation against an embedded simulated tenant. Starts the simulated cloud (Entra ID,
// Microsoft Graph, Key Vault, ACS Email), then runs the compiled CLI as an operator would: scan, rotate, rotate
// again (a no-op), and writes the emails that were sent to demo-output/ as HTML files.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startSimCloud } from '../test/sim/cloud.js';
import { seedDemoTenant } from '../test/sim/seed.js';

const root = resolve(import.meta.dirname, '..');
const out = join(root, 'demo-output');
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

const cloud = await startSimCloud({ replicationDelayMs: 1500 });
try {
  const demo = seedDemoTenant(cloud);
  const env = {
    ...process.env,
    ...cloud.env,
    VERIFY_TIMEOUT_SECONDS: '30',
    NOTIFY_ALSO: 'secops@contoso.com',
  };
  // Async, not spawnSync: the simulated cloud answers from this very process.
  const cli = (...args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
      const child = spawn(process.execPath, [join(root, 'dist/src/cli.js'), ...args], { env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (status) => {
        process.stdout.write(stdout);
        // The CLI's progress log goes to stderr; shown dimmed, as an operator would see it.
        if (stderr) process.stdout.write(dim(stderr));
        done({ status, stdout, stderr });
      });
    });

  console.log(
    bold(
      `\nSimulated tenant ${cloud.tenant.tenantId}: ${cloud.tenant.applications.size} app registrations, ` +
        `${Object.keys(demo.apps).length - 1} owned by the rotator's managed identity.`,
    ),
  );
  console.log(
    'New secrets start working after 1.5 s (simulated Entra replication); the rotator waits for that before storing them.\n',
  );

  console.log(bold('$ entra-secret-rotator scan'));
  await cli('scan');

  console.log(bold('\n$ entra-secret-rotator rotate'));
  const rotate = await cli('rotate');
  if (rotate.status !== 0 && rotate.status !== 1) {
    process.stderr.write(rotate.stderr);
    throw new Error(`rotate exited with ${rotate.status}`);
  }

  console.log(bold('\nKey Vault now holds:'));
  for (const name of cloud.vault.names()) {
    const v = cloud.vault.latest(name)!;
    console.log(
      `  ${v.id}  keyId=${v.tags.keyId}  expires ${v.expiresOn?.toISOString().slice(0, 10)}  (value hidden)`,
    );
  }

  console.log(bold('\n$ entra-secret-rotator rotate   # again: nothing is due any more'));
  const again = await cli('rotate');

  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const index: string[] = [];
  cloud.mail.messages.forEach((m, i) => {
    const file = `${String(i + 1).padStart(2, '0')}-${m.to[0]!.replace(/[^a-z0-9.@-]/gi, '_')}.html`;
    writeFileSync(join(out, file), m.html ?? `<pre>${m.plainText ?? ''}</pre>`);
    index.push(`<li><a href="${file}">${m.to.join(', ')}</a>: ${m.subject.replace(/</g, '&lt;')}</li>`);
  });
  writeFileSync(
    join(out, 'index.html'),
    `<!doctype html><meta charset="utf-8"><title>Emails sent by the demo</title><h1>Emails sent by the demo</h1><ul>${index.join('')}</ul>`,
  );
  console.log(
    bold(
      `\n${cloud.mail.messages.length} emails sent (one per recipient), written to ${out}/ (open index.html).`,
    ),
  );

  // The demo checks itself: nothing due is left, and no secret leaked into anything it printed.
  const printed = [
    rotate.stdout,
    rotate.stderr,
    again.stdout,
    again.stderr,
    ...cloud.mail.messages.map((m) => `${m.subject}${m.html}${m.plainText}`),
  ].join('\n');
  const leaked = cloud.issuedSecrets().filter((s) => printed.includes(s));
  if (leaked.length) throw new Error(`${leaked.length} secret values appeared in output: this is a bug`);
  console.log(
    `Checked: no secret value appears in the CLI output, logs or emails (${cloud.issuedSecrets().length} secrets scanned).`,
  );
} finally {
  await cloud.stop();
}
