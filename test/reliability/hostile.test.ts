// Hostile input: generated malformed argv, settings and HTTP bodies are refused with no change (I5); hostile
// display names and tag values flow through the table, the JSON report and the emails safely.
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { rotateHttp } from '../../src/functions/rotateHttp.js';
import type { Report } from '../../src/rotation/report.js';
import type { SimCloud } from '../sim/cloud.js';
import {
  checkNothingChanged,
  checkNothingLeaked,
  counters,
  DAY,
  Emitted,
  lastSeq,
  startHarnessCloud,
  recordResults,
  resetSmallTenant,
} from './harness.js';
import { invocation, operatorToken, rotateRequest } from '../functions/host.js';

let cloud: SimCloud;
let env: Record<string, string>;
const emitted = new Emitted();

beforeAll(async () => {
  ({ cloud, env } = await startHarnessCloud());
  resetSmallTenant(cloud); // due apps: anything that slipped through would rotate them, and I5 would see it
});
afterAll(async () => {
  checkNothingLeaked(cloud, emitted);
  recordResults('hostile.test.ts');
  await cloud?.stop();
});

async function cli(args: string[], runEnv = env) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, runEnv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  emitted.add(`cli ${JSON.stringify(args).slice(0, 200)} stdout`, stdout);
  emitted.add(`cli ${JSON.stringify(args).slice(0, 200)} stderr`, stderr);
  return { code, stdout, stderr };
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const guid = fc.uuid();
const anyText = fc.string({ unit: 'binary', maxLength: 40 });

// ---------------------------------------------------------------------------------------------------------------
// Argv: a valid command with valid options, and one corruption at a random place.

const validRotateOpts = fc.array(
  fc.oneof(
    fc.constant(['--json']),
    fc.constant(['--dry-run']),
    guid.map((g) => ['--app', g]),
  ),
  { maxLength: 3 },
);
const unknownLong = fc
  .stringMatching(/^[a-z][a-z-]{0,15}$/)
  // Every long option the CLI knows (the program's --help and --version are accepted after a command too).
  .filter(
    (w) => !['json', 'dry-run', 'app', 'force', 'all', 'revoke-superseded', 'help', 'version'].includes(w),
  )
  .map((w) => [`--${w}`]);
const unknownShort = fc
  // Not -h (help) nor -V (version): both are valid anywhere.
  .constantFrom(...'abcdefgijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUWXYZ0123456789'.split(''))
  .map((c) => [`-${c}`]);
const nonGuidApp = anyText.filter((s) => !GUID.test(s)).map((s) => ['--app', s]);
const excessArgument = anyText.filter((s) => s !== '' && !s.startsWith('-')).map((s) => [s]);

const malformedArgv = fc.oneof(
  // rotate + a corruption somewhere among valid options
  fc
    .tuple(validRotateOpts, fc.oneof(unknownLong, unknownShort, nonGuidApp, excessArgument), fc.nat())
    .map(([opts, bad, at]) => {
      const flat = opts;
      const i = at % (flat.length + 1);
      return ['rotate', ...[...flat.slice(0, i), bad, ...flat.slice(i)].flat()];
    }),
  // --force without any --app
  fc.array(fc.constantFrom('--json', '--dry-run'), { maxLength: 2 }).map((o) => ['rotate', ...o, '--force']),
  // --app with its value missing
  fc.array(fc.constantFrom('--json', '--dry-run'), { maxLength: 2 }).map((o) => ['rotate', ...o, '--app']),
  // scan takes none of rotate's options
  fc
    .tuple(fc.constantFrom(['--dry-run'], ['--force'], ['--app', randomUUID()]), fc.boolean())
    .map(([o, json]) => ['scan', ...(json ? ['--json'] : []), ...o]),
  // no command, or an unknown one
  fc.constant<string[]>([]),
  anyText
    .filter((s) => !['scan', 'rotate', 'help'].includes(s) && !s.startsWith('-'))
    .map((c) => [c, '--json']),
);

describe('malformed command lines', () => {
  it('≥ 150 generated malformed argv: exit 2, empty stdout, one line on stderr, no request to any service', async () => {
    const seq = lastSeq(cloud);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(malformedArgv, async (argv) => {
        n++;
        const r = await cli(argv);
        expect(r.code, `${JSON.stringify(argv)}: ${r.stderr}`).toBe(2);
        expect(r.stdout).toBe('');
        expect(r.stderr.trim()).not.toBe('');
      }),
      { numRuns: 150 },
    );
    counters.malformedInputs += n;
    expect(cloud.log.entries.filter((e) => e.seq > seq)).toEqual([]);
    checkNothingChanged(cloud, seq);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Settings: one bad value at a time.

const notWholeNumber = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 12 })
  .filter((s) => s.trim() !== '' && !/^[0-9]+$/.test(s.trim()));
const numberSetting = (name: string, min: number, max: number) =>
  fc
    .oneof(
      fc.integer({ min: -1000, max: min - 1 }).map(String),
      fc.integer({ min: max + 1, max: 1_000_000 }).map(String),
      notWholeNumber,
    )
    .map((v) => ({ [name]: v }));
const notUrl = fc.oneof(
  fc.constantFrom(
    'not a url',
    'ftp://vault.example',
    'kv-rotator',
    '//vault.azure.net',
    'javascript:alert(1)',
  ),
  fc.stringMatching(/^[a-z ]{1,20}$/).filter((s) => s.trim() !== ''),
);

const badSettings = fc.oneof(
  numberSetting('RENEW_BEFORE_DAYS', 1, 365),
  numberSetting('RETIRE_AFTER_DAYS', 1, 365),
  numberSetting('VERIFY_TIMEOUT_SECONDS', 1, 3600),
  numberSetting('SECRET_LIFETIME_DAYS', 1, 730),
  // A lifetime within the renewal window would make every app due again at once.
  fc.integer({ min: 1, max: 30 }).map((d) => ({ SECRET_LIFETIME_DAYS: String(d), RENEW_BEFORE_DAYS: '30' })),
  fc
    .string({ minLength: 1, maxLength: 12 })
    .filter((s) => s.trim() !== '' && !['owned', 'tagged'].includes(s.trim()))
    .map((v) => ({ ROTATION_SCOPE: v })),
  fc.constant({ ROTATION_SCOPE: 'tagged' }),
  notUrl.map((v) => ({ KEY_VAULT_URL: v })),
  notUrl.map((v) => ({ GRAPH_ENDPOINT: v })),
  notUrl.map((v) => ({ AZURE_AUTHORITY_HOST: v })),
  fc
    .constantFrom('not-an-address', 'a@', '@contoso.com', 'x y@contoso.com')
    .map((v) => ({ EMAIL_SENDER: v })),
  fc.constantFrom('ok@contoso.com, not an address', ';;', 'a@b').map((v) => ({ NOTIFY_ALSO: v })),
);

describe('bad settings', () => {
  it('≥ 100 generated bad settings: exit 2 with one line naming the setting, no change', async () => {
    const seq = lastSeq(cloud);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(badSettings, fc.constantFrom('rotate', 'scan'), async (bad, command) => {
        // KEY_VAULT_URL is checked by scan only when set; a scan ignores nothing else.
        n++;
        const r = await cli([command, '--json'], { ...env, ...bad });
        const name = Object.keys(bad)[0]!;
        expect(r.code, `${JSON.stringify(bad)}: ${r.stderr}`).toBe(2);
        expect(r.stdout).toBe('');
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toContain(name);
      }),
      { numRuns: 100 },
    );
    counters.malformedInputs += n;
    checkNothingChanged(cloud, seq);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// HTTP: POST /api/rotate with generated malformed bodies.

const jsonValue = fc.jsonValue({ maxDepth: 2 });
const malformedBody = fc.oneof(
  // not JSON at all
  fc.string({ maxLength: 60 }).filter((s) => {
    try {
      JSON.parse(s);
      return false;
    } catch {
      return s.length > 0;
    }
  }),
  // JSON, but not an object
  fc
    .oneof(fc.array(jsonValue, { maxLength: 3 }), fc.string(), fc.double(), fc.boolean(), fc.constant(null))
    .map((v) => JSON.stringify(v)),
  // an unknown field beside valid ones
  fc
    .tuple(
      fc.string({ minLength: 1, maxLength: 20 }).filter((k) => !['appIds', 'dryRun', 'force'].includes(k)),
      jsonValue,
    )
    .map(([k, v]) => JSON.stringify({ dryRun: true, [k]: v })),
  // wrongly typed flags
  fc
    .tuple(
      fc.constantFrom('dryRun', 'force'),
      jsonValue.filter((v) => typeof v !== 'boolean' && v !== undefined),
    )
    .map(([k, v]) => JSON.stringify({ appIds: [randomUUID()], [k]: v })),
  // appIds that are not a list of GUIDs
  fc
    .oneof(
      jsonValue.filter((v) => !Array.isArray(v)),
      fc.constant<string[]>([]),
      fc.array(
        fc.oneof(
          fc.string({ maxLength: 40 }).filter((s) => !GUID.test(s)),
          fc.integer(),
          fc.constant(null),
        ),
        {
          minLength: 1,
          maxLength: 3,
        },
      ),
    )
    .filter((v) => v !== undefined)
    .map((v) => JSON.stringify({ appIds: v })),
  // force without appIds
  fc.boolean().map((d) => JSON.stringify({ force: true, dryRun: d })),
  // over 64 KiB
  fc
    .integer({ min: 65 * 1024, max: 80 * 1024 })
    .map((n) => JSON.stringify({ dryRun: true, pad: 'x'.repeat(n) })),
);

describe('POST /api/rotate with malformed bodies', () => {
  it('≥ 100 generated malformed bodies: 4xx with {"error": {code, message}}, no change', async () => {
    const seq = lastSeq(cloud);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(malformedBody, async (body) => {
        n++;
        const res = await rotateHttp(rotateRequest(body, await operatorToken(cloud)), invocation('rotate'));
        emitted.add('http response', res.jsonBody);
        expect(res.status, `${body.slice(0, 200)} → ${JSON.stringify(res.jsonBody)}`).toBeGreaterThanOrEqual(
          400,
        );
        expect(res.status).toBeLessThan(500);
        const err = (res.jsonBody as { error?: { code?: unknown; message?: unknown } }).error;
        expect(typeof err?.code).toBe('string');
        expect(typeof err?.message).toBe('string');
      }),
      { numRuns: 120 },
    );
    counters.malformedInputs += n;
    checkNothingChanged(cloud, seq);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Hostile tenant data through the table, the JSON report and the emails.

const HOSTILE_NAMES = [
  '<script>alert(1)</script> Payroll',
  'Line one\nLine two\r\nLine three',
  '\u001b[31mRED\u001b[0m\u0007 terminal',
  'x'.repeat(5000),
  'invoice\u202eexe.pdf\u202c (bidi override)',
  'Zero\u200bwidth \u2066isolate\u2069 and a \u2028line separator',
  '🔑 Ключ 鍵 مفتاح',
  '"quoted" & <b>bold</b> \' ` ${x} {{tpl}}',
];
const HOSTILE_TAGS = [
  ['rotation:notify=<script>@x.com'],
  ['rotation:secretName=../../etc/passwd'],
  ['rotation:lifetimeDays=' + '9'.repeat(300)],
  ['rotation:renewBeforeDays=5\nrotation:disabled'],
  ['rotation:notify=ok@contoso.com;\u202eevil@x.com'],
  ['rotation:secretName=\u001b[2Jwipe'],
];
// Characters that would forge lines or disguise text in a terminal or log.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

describe('hostile display names and tag values', () => {
  it('stay one line per app in the table, exact in the JSON report, escaped in the emails', async () => {
    cloud.tenant.applications.clear();
    const owner = cloud.tenant.addUser({ displayName: '<i>Mallory</i>', mail: 'alice@contoso.com' });
    const secret = () => ({
      displayName: 'created in the portal',
      startDateTime: new Date(Date.now() - 300 * DAY),
      endDateTime: new Date(Date.now() + 10 * DAY),
    });
    const apps = [
      ...HOSTILE_NAMES.map((displayName) => ({ displayName, tags: [] as string[] })),
      ...HOSTILE_TAGS.map((tags, i) => ({ displayName: `Tagged ${i}`, tags })),
    ].map((a) =>
      cloud.tenant.addApplication({
        ...a,
        ownerIds: [cloud.rotator.id, owner.id],
        passwords: [secret()],
      }),
    );
    const mailFrom = cloud.mail.messages.length;

    const table = await cli(['scan']);
    expect(table.code).toBe(0);
    expect(
      [...table.stdout].filter((c) => UNSAFE.test(c)).map((c) => c.codePointAt(0)!.toString(16)),
    ).toEqual([]);
    const lines = table.stdout.split('\n');
    for (const app of apps)
      expect(
        lines.filter((l) => l.includes(app.appId)),
        app.displayName,
      ).toHaveLength(1);
    // Header, one line per app, a blank line, the summary, and notes: nothing else.
    const notes = lines.filter((l) => l.startsWith('Note: ')).length;
    expect(lines.filter((l) => l !== '')).toHaveLength(1 + apps.length + 1 + notes);

    const rotated = await cli(['rotate', '--json']);
    expect([0, 1]).toContain(rotated.code);
    const report = JSON.parse(rotated.stdout) as Report;
    for (const app of apps) {
      const a = report.apps.find((x) => x.appId === app.appId);
      expect(a?.displayName).toBe(app.displayName); // JSON carries the data exactly; escaping is the reader's job
      expect(a?.reason ?? '').not.toMatch(UNSAFE);
    }
    // Names are fine, tags are not: the named apps rotate, each bad tag skips its app with the tag named.
    expect(report.summary.rotated).toBe(HOSTILE_NAMES.length);
    for (const app of apps.slice(HOSTILE_NAMES.length))
      expect(report.apps.find((x) => x.appId === app.appId)?.action).toBe('skipped');
    // The logs on stderr are one line per event.
    for (const line of rotated.stderr.split('\n')) expect(line).not.toMatch(UNSAFE);

    const mails = cloud.mail.messages.slice(mailFrom);
    expect(mails.length).toBeGreaterThan(0);
    emitted.addMail(cloud, mailFrom);
    for (const m of mails) {
      expect(m.subject).not.toMatch(/[\r\n]/);
      expect(m.subject).not.toMatch(UNSAFE);
      expect(m.html ?? '').not.toMatch(/<script|<b>bold|<i>Mallory|onerror=/i);
      expect(m.html ?? '').not.toMatch(UNSAFE);
      expect(m.plainText ?? '').not.toMatch(UNSAFE);
    }
  });
});
