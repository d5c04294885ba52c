// The command line as an operator meets it (issue 16 §3, contract §4, §8): help and version on stdout, one style
// for every usage and settings error (one line on stderr, exit 2, nothing on stdout), plurals, settings warnings
// said once, and the emergency flags' rules.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import type { Report } from '../../src/rotation/report.js';
import { startSimCloud } from '../sim/cloud.js';

const DAY = 86_400_000;
const APP = '00000000-0000-0000-0000-0000000000a1';

async function cli(args: string[], env: Record<string, string | undefined> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, env, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  return { code, stdout, stderr };
}

describe('help and version', () => {
  it('--help prints the commands, every flag, the settings and the exit codes on stdout, and exits 0', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    for (const text of [
      'scan',
      'rotate',
      '--json',
      '--dry-run',
      '--app <appId>',
      '--force',
      '--all',
      '--revoke-superseded',
      'KEY_VAULT_URL',
      'docs/settings.md',
      'Exit codes',
      '0  every app is fine',
      '1  at least one app failed',
      '2  bad usage or a bad setting',
    ])
      expect(r.stdout).toContain(text);
  });

  it('rotate --help prints the rotate flags on stdout', async () => {
    const r = await cli(['rotate', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--revoke-superseded');
    expect(r.stderr).toBe('');
  });

  it("--version prints package.json's version on stdout", async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    for (const flag of ['--version', '-V']) {
      const r = await cli([flag]);
      expect(r).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    }
  });
});

describe('usage errors: one line on stderr, exit 2, nothing on stdout (even with --json)', () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /missing command/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['scan', '--bogus', '--json'], /unknown option '--bogus'/],
    [['rotate', '--app'], /argument missing/],
    [['rotate', '--app', 'not-a-guid', '--json'], /--app "not-a-guid" is not an appId/],
    [['rotate', '--force', '--json'], /--force needs at least one --app, or --all/],
    [['rotate', '--all', '--json'], /--all needs --force/],
    [['rotate', '--all', '--force', '--app', APP, '--json'], /--all and --app exclude each other/],
    [['rotate', '--revoke-superseded', '--json'], /--revoke-superseded needs --force/],
    [['rotate', '--revoke-superseded', '--all', '--json'], /--all needs --force/],
    [['scan', '--all'], /unknown option '--all'/],
  ];
  for (const [args, message] of cases)
    it(`${args.join(' ') || '(no arguments)'}`, async () => {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^entra-secret-rotator: [^\n]+\n$/);
      expect(r.stderr).toMatch(message);
    });

  it('a bad setting reads the same way', async () => {
    const r = await cli(['scan', '--json'], { RENEW_BEFORE_DAYS: 'soon' });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^entra-secret-rotator: [^\n]*RENEW_BEFORE_DAYS[^\n]*\n$/);
  });

  it('rotate without KEY_VAULT_URL reads the same way', async () => {
    const r = await cli(['rotate', '--json'], {});
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^entra-secret-rotator: [^\n]*KEY_VAULT_URL[^\n]*\n$/);
  });
});

describe('against the simulated cloud', async () => {
  const cloud = await startSimCloud();
  afterAll(() => cloud.stop());
  // @azure/identity reads the managed identity endpoint from process.env, not from the env main() is given.
  Object.assign(process.env, cloud.env);
  const tag = 'cli-test';
  const env = { ...cloud.env, ROTATION_TAG: tag, VERIFY_TIMEOUT_SECONDS: '10' };
  const addApp = (name: string, endsInDays: number) =>
    cloud.tenant.addApplication({
      displayName: name,
      tags: [tag],
      ownerIds: [cloud.rotator.id],
      passwords: [
        {
          displayName: 'made by a person',
          startDateTime: new Date(Date.now() - 100 * DAY),
          endDateTime: new Date(Date.now() + endsInDays * DAY),
        },
      ],
    });

  it('one app reads "1 app", and each settings warning is said once on stderr', async () => {
    addApp('Only App', 200);
    const r = await cli(['scan'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\b1 app: /);
    expect(r.stdout).not.toMatch(/\b1 apps\b/);
    // The simulated cloud's hosts are custom endpoints, and its vault skips the challenge check: two warnings.
    const warnings = r.stderr.split('\n').filter((l) => l.includes('warning:'));
    expect(warnings.filter((l) => l.includes('ALLOW_CUSTOM_ENDPOINTS')).length).toBeGreaterThan(0);
    expect(warnings.filter((l) => l.includes('KEY_VAULT_DISABLE_CHALLENGE_VERIFICATION'))).toHaveLength(1);
    expect(new Set(warnings).size).toBe(warnings.length);
  });

  it('two apps read "2 apps"', async () => {
    addApp('Second App', 200);
    const r = await cli(['scan'], env);
    expect(r.stdout).toMatch(/\b2 apps: /);
  });

  it('rotate --all --force --dry-run reports every app in scope as would-rotate, due or not, and changes nothing', async () => {
    const writes = cloud.log.count(/^graph\.(addPassword|removePassword)$|^keyvault\.setSecret$/);
    const r = await cli(['rotate', '--all', '--force', '--dry-run', '--json'], env);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.apps.map((a) => a.displayName).sort()).toEqual(['Only App', 'Second App']);
    for (const a of report.apps) expect(a).toMatchObject({ action: 'would-rotate', code: 'forced' });
    expect(cloud.log.count(/^graph\.(addPassword|removePassword)$|^keyvault\.setSecret$/)).toBe(writes);
  });
});
