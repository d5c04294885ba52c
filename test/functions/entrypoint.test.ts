// The host loads `dist/src/functions/*.js` with plain Node (package.json "main"), not through vitest: value imports
// of @azure/functions other than `app` break there (upstream issue #287), and so do ESM paths vitest forgives.
// Compile with the build config into a throwaway folder and import every trigger in a child process.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const out = mkdtempSync(join(tmpdir(), 'rotator-functions-build-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

it(
  'every compiled trigger module loads under plain node and registers its function',
  { timeout: 120_000 },
  () => {
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    // Type errors are the typecheck's business (tsc still emits): this test is about loading the output.
    const build = spawnSync(
      process.execPath,
      [tsc, '-p', 'tsconfig.build.json', '--outDir', out, '--sourceMap', 'false'],
      { cwd: root, encoding: 'utf8' },
    );
    expect(existsSync(join(out, 'src/functions/rotateTimer.js')), build.stdout).toBe(true);
    // What the deployed package has around the build output: "type": "module" and the dependencies.
    writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
    symlinkSync(join(root, 'node_modules'), join(out, 'node_modules'), 'dir');
    const files = readdirSync(join(out, 'src/functions'))
      .filter((f) => f.endsWith('.js'))
      .sort();
    expect(files).toEqual([
      'rotateHttp.js',
      'rotatePoison.js',
      'rotateTimer.js',
      'rotateWorker.js',
      'runsHttp.js',
      'scanHttp.js',
      'statusHttp.js',
    ]);
    // The handlers load when a function first runs (a dynamic import): they must load under plain node too.
    const handlers = readdirSync(join(out, 'src/functions/handlers'))
      .filter((f) => f.endsWith('.js'))
      .map((f) => `handlers/${f}`);
    expect(handlers).toHaveLength(files.length);
    const script = [...files, ...handlers]
      .map((f) => `await import(${JSON.stringify(join(out, 'src/functions', f))});`)
      .join('\n');
    const run = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `${script}\nconsole.log('loaded');`],
      {
        cwd: out,
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '' },
      },
    );
    expect(run.stderr).not.toMatch(/SyntaxError|Error \[ERR_|does not provide an export/);
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe('loaded');
    // Outside the host, app.* only warns: proof that each registration ran.
    for (const name of ['rotate', 'scan', 'runs', 'status', 'rotateTimer', 'rotateWorker', 'rotatePoison'])
      expect(run.stderr).toContain(`Skipping call to register function "${name}"`);
  },
);
