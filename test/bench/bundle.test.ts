// The deployable bundle (npm run bundle, scripts/bundle.mjs) registers exactly the functions the source does.
// Registrations are observed as the Functions Node worker sees them: the worker serves the module
// `@azure/functions-core` by intercepting require(), and @azure/functions calls its registerFunction(metadata,
// handler) for every app.* trigger. A preload here plays that worker and prints what was registered.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'rotator-bundle-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const MARK = '@@registered=';
const fakeWorker = join(tmp, 'fake-worker.cjs');
writeFileSync(
  fakeWorker,
  `const Module = require('node:module');
const registered = [];
const core = {
  version: '4.0.0-test', hostVersion: '4.0.0-test',
  setProgrammingModel() {},
  registerFunction(metadata) { registered.push(metadata); return { dispose() {} }; },
  registerHook() { return { dispose() {} }; },
  log() {},
  Disposable: class { dispose() {} },
};
Module.prototype.require = new Proxy(Module.prototype.require, {
  apply(target, self, args) { return args[0] === '@azure/functions-core' ? core : Reflect.apply(target, self, args); },
});
process.on('exit', () => {
  const { findSourceMap } = require('node:module');
  const app = require('node:path').resolve('package/app.mjs');
  registered.push({ name: '@@source maps', bindings: { loaded: !!findSourceMap(app) } });
  process.stdout.write('\\n${MARK}' + JSON.stringify(registered) + '\\n');
});
`,
);

interface Registration {
  name: string;
  bindings: Record<string, Record<string, unknown>>;
}

/** Imports `modules` in a fresh node (flags, cwd) under the fake worker; what they registered, by name. */
function registrations(nodeArgs: string[], modules: string[], cwd: string): Registration[] {
  const script = modules.map((m) => `await import(${JSON.stringify(pathToFileURL(m).href)});`).join('\n');
  const run = spawnSync(
    process.execPath,
    ['--require', fakeWorker, ...nodeArgs, '--input-type=module', '-e', script],
    { cwd, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } },
  );
  expect(run.stderr).not.toMatch(/Error|WARNING/);
  expect(run.status).toBe(0);
  const line = run.stdout.split('\n').find((l) => l.startsWith(MARK));
  const list = JSON.parse(line!.slice(MARK.length)) as Registration[];
  return list.sort((a, b) => a.name.localeCompare(b.name));
}

it(
  'the bundle is a Functions app whose one entry registers the same triggers as src/functions',
  { timeout: 120_000 },
  () => {
    const out = join(tmp, 'package');
    const build = spawnSync(process.execPath, ['scripts/bundle.mjs', '--out', out, '--quiet'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(build.status, build.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(
      expect.arrayContaining(['app.mjs', 'app.mjs.map', 'host.json', 'index.mjs', 'package.json']),
    );
    expect(JSON.parse(readFileSync(join(out, 'package.json'), 'utf8'))).toEqual({
      type: 'module',
      main: 'index.mjs',
    });
    expect(readFileSync(join(out, 'host.json'), 'utf8')).toBe(readFileSync(join(root, 'host.json'), 'utf8'));
    expect(readFileSync(join(out, 'app.mjs'), 'utf8')).toMatch(/\/\/# sourceMappingURL=app\.mjs\.map\s*$/);
    // Nothing is left to node_modules: the package has none, and the entry loads from a folder without one.
    expect(existsSync(join(out, 'node_modules'))).toBe(false);

    // No node flags: the entry turns source maps on itself, before the bundle loads.
    const bundled = registrations([], [join(out, 'index.mjs')], tmp);
    const sources = readdirSync(join(root, 'src/functions'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(root, 'src/functions', f));
    const fromSource = registrations(['--import', 'tsx'], sources, root);

    expect(bundled.shift()).toEqual({ name: '@@source maps', bindings: { loaded: true } });
    expect(fromSource.shift()?.name).toBe('@@source maps');
    expect(bundled.map((r) => r.name)).toEqual([
      'rotate',
      'rotatePoison',
      'rotateTimer',
      'rotateWorker',
      'runs',
      'scan',
      'status',
    ]);
    expect(bundled).toEqual(fromSource);

    // The handlers are chunks loaded when a function first runs: each loads from the package alone (no
    // node_modules), with its source map, and the entry loads neither them nor the SDKs' big chunk.
    const chunks = readdirSync(join(out, 'chunks')).filter((f) => f.endsWith('.mjs'));
    const lazy = chunks.filter(
      (f) => /^(rotate|scan|runs|status)\w*-/.test(f) || statSync(join(out, 'chunks', f)).size > 100_000,
    );
    expect(lazy.length).toBeGreaterThanOrEqual(8);
    const loadAll = spawnSync(
      process.execPath,
      [
        '--require',
        fakeWorker,
        '--input-type=module',
        '-e',
        `const { findSourceMap } = await import('node:module');
const urls = ${JSON.stringify(chunks.map((f) => pathToFileURL(join(out, 'chunks', f)).href))};
const lazy = ${JSON.stringify(lazy.map((f) => pathToFileURL(join(out, 'chunks', f)).href))};
await import(${JSON.stringify(pathToFileURL(join(out, 'index.mjs')).href)});
const before = lazy.filter((u) => findSourceMap(new URL(u).pathname)).length;
for (const u of urls) await import(u);
const mapped = urls.filter((u) => findSourceMap(new URL(u).pathname)).length;
console.log('@@chunks=' + JSON.stringify({ before, mapped, of: urls.length }));`,
      ],
      { cwd: tmp, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } },
    );
    expect(loadAll.stderr).not.toMatch(/Error|WARNING/);
    expect(loadAll.status).toBe(0);
    const counts = /@@chunks=(.*)/.exec(loadAll.stdout)?.[1];
    expect(JSON.parse(counts!)).toEqual({ before: 0, mapped: chunks.length, of: chunks.length });
  },
);
