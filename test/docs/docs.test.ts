// The documentation keeps up with the code: every setting the code reads is in docs/settings.md, every relative
// link in the README, SECURITY.md and docs/ resolves (files and #anchors), and the README stays short.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  anchorsIn,
  githubSlug,
  isExternal,
  linksIn,
  proseLines,
  settingNameLiterals,
  settingsReadIn,
  templateMatcher,
  unionLiterals,
} from './markdown.js';

const root = resolve(import.meta.dirname, '../..');
const read = (rel: string) => readFileSync(join(root, rel), 'utf8');

function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  if (!existsSync(join(root, dir))) return [];
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => keep(f) && statSync(join(root, f)).isFile())
    .sort();
}

const sources = filesUnder('src', (f) => f.endsWith('.ts'));
/** The settings modules: src/settings.ts and the parsers beside it (any src/ file whose path names "setting"). */
const settingsModules = sources.filter((f) => /setting/i.test(f));

/** Names the scan must find: if it stops finding them, the code reads settings in a way the scan misses. */
const CANARIES = [
  'KEY_VAULT_URL',
  'ROTATION_SCOPE',
  'RENEW_BEFORE_DAYS',
  'VERIFY_TIMEOUT_SECONDS',
  'EMAIL_SENDER',
  'AzureWebJobsStorage',
  'ROTATION_INLINE_MAX',
  'HTTP_TIME_BUDGET_SECONDS',
];

/** The setting names in the first column of docs/settings.md's table(s). */
function documentedSettings(): string[] {
  const names: string[] = [];
  for (const { text } of proseLinesKeepingCode(read('docs/settings.md'))) {
    const first = /^\s*\|([^|]*)\|/.exec(text)?.[1];
    if (first) for (const m of first.matchAll(/`([^`]+)`/g)) names.push(m[1]!);
  }
  return names;
}

function proseLinesKeepingCode(markdown: string) {
  const lines = markdown.split('\n');
  return proseLines(markdown).map(({ line }) => ({ line, text: lines[line - 1]! }));
}

describe('the scan for settings', () => {
  it('finds names however the code reads them', () => {
    const sample = `
      const a = process.env.KEY_VAULT_URL;
      const b = env['ROTATION_SCOPE'] ?? env?.ROTATION_TAG;
      const c = integerSetting(
        env,
        'RENEW_BEFORE_DAYS', 30);
      const d = read(env, "EMAIL_SENDER") + wholeNumber(process.env, 'ROTATION_INLINE_MAX', 10, 1);
      const e = read(env, \`AzureWebJobsStorage__\${svc}ServiceUri\`);
      // read(env, 'IN_A_COMMENT')
      const f = env.notASetting;
    `;
    expect(settingsReadIn(sample)).toEqual([
      'AzureWebJobsStorage__${svc}ServiceUri',
      'EMAIL_SENDER',
      'KEY_VAULT_URL',
      'RENEW_BEFORE_DAYS',
      'ROTATION_INLINE_MAX',
      'ROTATION_SCOPE',
      'ROTATION_TAG',
    ]);
    expect(
      settingNameLiterals(
        `const T = [{ name: 'LOCK_WAIT_SECONDS' }, 'not a name', 'AzureWebJobsStorage'];\n` +
          `const SPEC = {\n  ROTATION_CONCURRENCY: int(1, 256),\n  x: 'a:b' };`,
      ),
    ).toEqual(['AzureWebJobsStorage', 'LOCK_WAIT_SECONDS', 'ROTATION_CONCURRENCY']);
    expect(
      templateMatcher('AzureWebJobsStorage__${svc}ServiceUri').test('AzureWebJobsStorage__blobServiceUri'),
    ).toBe(true);
  });

  it('still recognises how src/ reads its settings', () => {
    const found = new Set(sources.flatMap((f) => settingsReadIn(read(f))));
    const missed = CANARIES.filter((n) => !found.has(n));
    expect(
      missed,
      `the scan of src/ no longer finds ${missed.join(', ')}: settings are now read in a way ` +
        'test/docs/markdown.ts does not recognise; teach settingsReadIn the new way',
    ).toEqual([]);
  });
});

describe('docs/settings.md', () => {
  it('lists every setting the code reads', () => {
    const documented = documentedSettings();
    const read_ = [
      ...sources.flatMap((f) => settingsReadIn(read(f)).map((name) => ({ name, file: f }))),
      ...settingsModules.flatMap((f) => settingNameLiterals(read(f)).map((name) => ({ name, file: f }))),
    ];
    const missing = new Map<string, string>();
    for (const { name, file } of read_) {
      const ok = name.includes('${')
        ? documented.some((d) => templateMatcher(name).test(d))
        : documented.includes(name);
      if (!ok && !missing.has(name)) missing.set(name, file);
    }
    const list = [...missing].map(([name, file]) => `${name} (read in ${file})`);
    expect(list, `add these settings to the table in docs/settings.md: ${list.join('; ')}`).toEqual([]);
  });
});

describe('docs/reference.md', () => {
  it('lists every code a report entry can carry (the EntryCode and DecisionCode unions in src/rotation/)', () => {
    const rotation = sources.filter((f) => /^src[\\/]rotation[\\/]/.test(f)).map(read);
    const codes = new Set(
      rotation.flatMap((src) => [...unionLiterals(src, 'EntryCode'), ...unionLiterals(src, 'DecisionCode')]),
    );
    expect(
      codes.size,
      'found no EntryCode / DecisionCode union in src/rotation/: update this test to where the codes live',
    ).toBeGreaterThanOrEqual(5);
    const documented = new Set(
      [...read('docs/reference.md').matchAll(/^\|\s*`([a-z0-9-]+)`\s*\|/gm)].map((m) => m[1]!),
    );
    const missing = [...codes].filter((c) => !documented.has(c));
    expect(missing, `add these codes to the Codes table of docs/reference.md: ${missing.join(', ')}`).toEqual(
      [],
    );
  });
});

describe('links', () => {
  const docs = ['README.md', 'SECURITY.md', ...filesUnder('docs', (f) => f.endsWith('.md'))].filter((f) =>
    existsSync(join(root, f)),
  );

  it('reads anchors as GitHub makes them', () => {
    expect(githubSlug('`owned` or `tagged` scope')).toBe('owned-or-tagged-scope');
    expect(githubSlug('Settings: ROTATION_INLINE_MAX & co.')).toBe('settings-rotation_inline_max--co');
    expect(githubSlug('Deploy with [azd](https://aka.ms/azd)')).toBe('deploy-with-azd');
    expect([...anchorsIn('# A\n## B\n```\n# not a heading\n```\n## B\n### `code` here\n')]).toEqual([
      'a',
      'b',
      'b-1',
      'code-here',
    ]);
    expect(
      linksIn('[a](x.md#y) `[b](no.md)` ![i](<p q.png> "t")\n[ref]: docs/z.md').map((l) => l.target),
    ).toEqual(['x.md#y', 'p q.png', 'docs/z.md']);
  });

  it.each(docs)('every relative link in %s resolves', (doc) => {
    const broken: string[] = [];
    for (const { line, target } of linksIn(read(doc))) {
      if (isExternal(target)) continue;
      const [path = '', anchor] = target.split('#', 2);
      const file = path === '' ? join(root, doc) : resolve(dirname(join(root, doc)), decodeURI(path));
      const shown = `${doc}:${line} → ${target}`;
      if (!existsSync(file)) {
        broken.push(`${shown} (no file ${relative(root, file)})`);
        continue;
      }
      if (anchor && file.endsWith('.md') && !anchorsIn(readFileSync(file, 'utf8')).has(anchor)) {
        broken.push(`${shown} (no heading #${anchor} in ${relative(root, file)})`);
      }
    }
    expect(broken, broken.join('\n')).toEqual([]);
  });
});

describe('README.md', () => {
  const readme = read('README.md');

  it('is at most 12,000 characters', () => {
    expect([...readme].length).toBeLessThanOrEqual(12_000);
  });

  it('has no prose line longer than 120 characters (tables and code excepted)', () => {
    const long = proseLinesKeepingCode(readme)
      .filter(({ text }) => !/^\s*\|/.test(text) && [...text].length > 120)
      .map(({ line, text }) => `README.md:${line} (${[...text].length} characters)`);
    expect(long, long.join('\n')).toEqual([]);
  });
});
