// `npm run sim -- --print-env` (issue 16 §3): the export lines it prints are everything the CLI needs. A shell that
// sources them, and nothing else (no CA of this test's own), runs `entra-secret-rotator scan` and sees the table.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Starts the sim as `npm run sim` does and resolves with its stdout once the ready comment is printed. */
function startPrintEnv() {
  const child = spawn(
    process.execPath,
    [
      join(root, 'scripts/with-sim-ca.mjs'),
      join(root, 'node_modules/.bin/tsx'),
      'test/sim/main.ts',
      '--print-env',
    ],
    { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const ready = new Promise<string>((done, failed) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (/^# simulated cloud ready/m.test(stdout)) done(stdout);
    });
    child.on('exit', (code) => failed(new Error(`sim exited (${code}) before it was ready: ${stderr}`)));
  });
  // The sim stops when its stdin closes (main.ts), and with-sim-ca then deletes the CA folder.
  const stop = () =>
    new Promise<void>((done) =>
      child.exitCode !== null ? done() : (child.on('exit', () => done()), child.stdin.end()),
    );
  return { ready, stop };
}

describe('npm run sim -- --print-env', () => {
  const sim = startPrintEnv();
  const dir = mkdtempSync(join(tmpdir(), 'sim-env-'));
  afterAll(async () => {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints export lines with the CA file; a shell that sources them runs entra-secret-rotator scan', async () => {
    const lines = await sim.ready;
    for (const name of [
      'NODE_EXTRA_CA_CERTS',
      'GRAPH_ENDPOINT',
      'KEY_VAULT_URL',
      'AZURE_AUTHORITY_HOST',
      'PATH',
    ])
      expect(lines).toMatch(new RegExp(`^export ${name}='[^']+'$`, 'm'));
    expect(
      lines
        .split('\n')
        .filter(Boolean)
        .every((l) => l.startsWith('export ') || l.startsWith('#')),
    ).toBe(true);
    writeFileSync(join(dir, 'sim.env'), lines);

    // A clean environment: only what a terminal has, so the exported CA is what lets the CLI trust the sim.
    const r = spawnSync('sh', ['-c', '. ./sim.env && entra-secret-rotator scan'], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME ?? dir },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stderr).not.toMatch(/SELF_SIGNED_CERT|fetch failed/);
    expect(r.stdout).toMatch(/^APP\s+APP ID\s+ACTION/m);
    expect(r.stdout).toMatch(/^Contoso Intranet\s+\S+\s+would-rotate/m);
    expect(r.stdout).toMatch(/Dry run: no changes made\. \d+ apps: /);
    expect(r.status).toBe(1); // the demo tenant's personal-accounts app fails at its two-secret limit, by design
  });
});
