// The CLI that package.json `bin` names is the bundle `npm run build` writes (scripts/bundle.mjs --cli): one ESM
// file and its chunks, which run from a folder without node_modules and rotate as the compiled CLI does.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { Report } from '../../src/rotation/report.js';
import { startSimCloud } from '../sim/cloud.js';
import { seedLargeTenant } from '../sim/seed.js';

const root = resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'rotator-cli-bundle-'));
const cloud = await startSimCloud();
afterAll(async () => {
  await cloud.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const DAY = 86_400_000;

/** Runs `node [nodeArgs] <file> ...args` without blocking this process (the simulated cloud answers from it). */
function run(file: string, args: string[], env: Record<string, string>, nodeArgs: string[] = []) {
  const child = spawn(process.execPath, [...nodeArgs, file, ...args], { cwd: tmp, env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done) =>
    child.on('close', (code) => done({ code, stdout, stderr })),
  );
}

it(
  'package.json bin names the bundled CLI, which rotates from a folder without node_modules',
  { timeout: 120_000 },
  async () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      scripts: Record<string, string>;
    };
    expect(pkg.bin['entra-secret-rotator']).toBe('dist/cli/cli.mjs');
    expect(pkg.scripts.build).toContain('scripts/bundle.mjs --cli');

    const out = join(tmp, 'cli');
    const build = spawnSync(process.execPath, ['scripts/bundle.mjs', '--cli', '--out', out, '--quiet'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(build.status, build.stderr).toBe(0);
    expect(readFileSync(join(out, 'cli.mjs'), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
    expect(existsSync(join(out, 'cli.mjs.map'))).toBe(true);

    const now = Date.now();
    const app = cloud.tenant.addApplication({
      displayName: 'bundled cli',
      ownerIds: [cloud.rotator.id],
      passwords: [
        {
          displayName: 'old',
          startDateTime: new Date(now - 170 * DAY),
          endDateTime: new Date(now + 5 * DAY),
        },
      ],
    });
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS ?? '',
      ...cloud.env,
      VERIFY_TIMEOUT_SECONDS: '10',
    };
    const r = await run(join(out, 'cli.mjs'), ['rotate', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    const entry = report.apps.find((a) => a.appId === app.appId);
    expect(entry?.action).toBe('rotated');
    const version = cloud.vault.latest(entry!.secretUri!.split('/')[4]!)!;
    expect(cloud.tenant.authenticate(app.appId, version.value)).toMatchObject({ ok: true });
  },
);

// Preloaded into the CLI's process: the young generation's largest size (V8's new space, both semi-spaces) while
// the run went, written to stderr as it exits.
const NEW_SPACE_MARK = '@@new-space-bytes=';
const NEW_SPACE_PRELOAD =
  'data:text/javascript,' +
  encodeURIComponent(`import { getHeapSpaceStatistics } from 'node:v8';
let peak = 0;
const look = () => { peak = Math.max(peak, getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size); };
setInterval(look, 20).unref();
process.on('exit', () => { look(); process.stderr.write('${NEW_SPACE_MARK}' + peak + '\\n'); });`);

it(
  "the bundled CLI keeps V8's young generation at its start-up size over a large scan (peak RSS, issue 15)",
  { timeout: 180_000 },
  async () => {
    const out = join(tmp, 'cli');
    if (!existsSync(join(out, 'cli.mjs'))) {
      const build = spawnSync(process.execPath, ['scripts/bundle.mjs', '--cli', '--out', out, '--quiet'], {
        cwd: root,
        encoding: 'utf8',
      });
      expect(build.status, build.stderr).toBe(0);
    }
    // Two full pages of apps: without the CLI's setting V8 doubles the semi-spaces to 8-16 MiB here.
    seedLargeTenant(cloud, { apps: 2_000, duePercent: 5 });
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS ?? '',
      ...cloud.env,
    };
    const r = await run(join(out, 'cli.mjs'), ['scan', '--json'], env, ['--import', NEW_SPACE_PRELOAD]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.summary.scanned).toBeGreaterThanOrEqual(2_000);
    const peak = Number(new RegExp(`${NEW_SPACE_MARK}(\\d+)`).exec(r.stderr)?.[1]);
    // Two semi-spaces of 1 MiB at start; the bundle's import may double them once before the CLI's code runs.
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(4 * 2 ** 20);
  },
);
