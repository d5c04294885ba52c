// npm run bundle: the deployable Functions app in dist/package/, one ESM file instead of the compiled tree and
// its ~99 MB of node_modules (issue 15 §4). Every src/functions/*.ts that registers a trigger (app.http,
// app.timer, app.storageQueue, ...) is found here, at bundle time, and imported by one entry; esbuild bundles
// it with every dependency, @azure/functions included (the v4 programming model ships it in the app, not in the
// host). What is left outside is what the host's Node worker provides itself: `@azure/functions-core`, which
// the worker serves by intercepting require(), hence a real `require` in the bundle (createRequire banner).
//   node scripts/bundle.mjs [--out dir] [--quiet]
//   node scripts/bundle.mjs --cli [--out dir] [--quiet]    (npm run build: the CLI that package.json `bin` names)
// Writes: <out>/app.mjs (the bundle) and app.mjs.map (linked); index.mjs, the entry the host loads, which turns
// source maps on (process.setSourceMapsEnabled) before it imports app.mjs, so stack traces name the .ts files
// without any node flag or app setting; package.json {"type":"module","main":"index.mjs"}; host.json; and
// <out>/../bundle-meta.json (esbuild's metafile, outside the package) for finding what makes the bundle big.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The trigger modules: src/functions/*.ts that import `app` from @azure/functions and call app.<trigger>(. */
export function functionEntryPoints(dir = join(root, 'src', 'functions')) {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .filter((f) => {
      const text = readFileSync(join(dir, f), 'utf8');
      return (
        /import\s*\{[^}]*\bapp\b[^}]*\}\s*from\s*'@azure\/functions'/.test(text) && /\bapp\.\w+\(/.test(text)
      );
    })
    .sort()
    .map((f) => join(dir, f));
}

// What both bundles share: ESM for Node 20, every dependency inside, minified with names kept, linked maps.
const COMMON = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  splitting: true,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  // CommonJS dependencies require() Node's built-ins (and the worker's core module): give them a require.
  banner: {
    js: "import { createRequire as __bundleCreateRequire } from 'node:module';\nconst require = __bundleCreateRequire(import.meta.url);",
  },
  // A third less to parse at every start; stack traces still name the functions and .ts lines (Node maps names
  // as well as positions through the source map). keepNames: code that reads a function's or a class's .name
  // (error types, loggers) sees what was written.
  minify: true,
  keepNames: true,
  sourcemap: 'linked',
  sourcesContent: false,
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
};

/** The files under `out`, with their sizes. */
const filesOf = (out) =>
  readdirSync(out, { recursive: true })
    .filter((f) => statSync(join(out, f)).isFile())
    .sort()
    .map((f) => ({ file: f, bytes: statSync(join(out, f)).size }));

/**
 * The CLI as one ESM entry (`cli.mjs`, what package.json `bin` names) and chunks for what it imports only when
 * used (the Storage SDKs): every run of the CLI starts by loading its modules, and one file parses in about a
 * third of the CPU the compiled tree and node_modules take. Built by `npm run build`, next to dist/src.
 */
export async function bundleCli(out = join(root, 'dist', 'cli')) {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const result = await build({
    ...COMMON,
    entryPoints: { cli: join(root, 'src', 'cli.ts') },
    outdir: out,
  });
  return { out, entries: ['src/cli.ts'], files: filesOf(out), metafile: result.metafile };
}

/** Bundles into `out` (emptied first); returns the entry points and the package's files with their sizes. */
export async function bundle(out = join(root, 'dist', 'package')) {
  const entries = functionEntryPoints();
  if (entries.length === 0) throw new Error('no src/functions/*.ts registers a trigger with app.*');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const result = await build({
    ...COMMON,
    stdin: {
      contents: entries.map((f) => `import ${JSON.stringify(`./${relative(root, f)}`)};`).join('\n'),
      resolveDir: root,
      sourcefile: 'functions-entry.ts',
      loader: 'ts',
    },
    // app.mjs holds the registrations; each handler's code (handlers/*.ts, behind a dynamic import) and what
    // handlers share go to chunks/, loaded when a function first runs: a cold start parses only app.mjs.
    outdir: out,
    entryNames: 'app',
    // Provided by the Functions Node worker at run time (it intercepts require), never installed.
    external: ['@azure/functions-core'],
  });
  // Maps are read as a module loads: enabling them in the bundle itself would be too late for the bundle.
  writeFileSync(join(out, 'index.mjs'), "process.setSourceMapsEnabled(true);\nawait import('./app.mjs');\n");
  writeFileSync(
    join(out, 'package.json'),
    `${JSON.stringify({ type: 'module', main: 'index.mjs' }, null, 2)}\n`,
  );
  copyFileSync(join(root, 'host.json'), join(out, 'host.json'));
  writeFileSync(join(out, '..', 'bundle-meta.json'), JSON.stringify(result.metafile));
  return {
    out,
    entries: entries.map((f) => relative(root, f)),
    files: filesOf(out),
    metafile: result.metafile,
  };
}

/** The packages that put the most bytes into the bundle's outputs named by `outputs` ("what makes it big?"). */
export function largestPackages(metafile, top = 10, outputs = /./) {
  const byPackage = new Map();
  for (const [file, output] of Object.entries(metafile.outputs)) {
    if (!outputs.test(file)) continue;
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs ?? {})) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      const name = m ? m[1] : '(src)';
      byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
    }
  }
  return [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, top);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      cli: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.cli) {
    const r = await bundleCli(values.out ? resolve(values.out) : undefined);
    const cli = r.files.find((f) => f.file === 'cli.mjs');
    if (!values.quiet)
      console.log(
        `bundled the CLI into ${relative(root, r.out)}/cli.mjs (${cli.bytes.toLocaleString('en')} bytes)`,
      );
    process.exit(0);
  }
  const r = await bundle(values.out ? resolve(values.out) : undefined);
  if (!values.quiet) {
    const total = r.files.reduce((a, f) => a + f.bytes, 0);
    console.log(
      `bundled ${r.entries.length} trigger modules (${r.entries.join(', ')}) into ${relative(root, r.out)}/`,
    );
    for (const f of r.files) console.log(`  ${f.file.padEnd(40)} ${f.bytes.toLocaleString('en')} bytes`);
    console.log(`  ${'total'.padEnd(40)} ${total.toLocaleString('en')} bytes`);
    console.log('what a cold start imports (app.mjs):');
    for (const [name, bytes] of largestPackages(r.metafile, 10, /\/app\.mjs$/))
      console.log(`  ${name.padEnd(40)} ${bytes.toLocaleString('en')}`);
    console.log('largest packages in the package (app.mjs and the chunks the handlers load when first run):');
    for (const [name, bytes] of largestPackages(r.metafile))
      console.log(`  ${name.padEnd(40)} ${bytes.toLocaleString('en')}`);
  }
}
