// What a cold start of the Function App pays before the first invocation: the import of the deployed entry
// point (dist/package/index.mjs from npm run bundle), measured in fresh node processes, and the package's size.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface ColdStart {
  /** Median over `runs` fresh processes of the time to import the entry (ms, inside the process). */
  ms: number;
  runs: number[];
  /** Median CPU time of the same imports (ms, user + system): what load on the machine does not inflate. */
  cpuMs: number;
  entry: string;
  /** Flags the process ran with (none for the deployed entry: it enables source maps itself). */
  nodeFlags: string[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/**
 * Imports `modules` (in order) in `runs` fresh node processes, each timing its own imports. Outside the Functions
 * host the triggers' app.* calls only warn, which is fine: the import is what a cold start pays.
 */
export function coldStart(modules: string[], runs = 5, nodeFlags: string[] = []): ColdStart {
  const imports = modules.map((m) => `await import(${JSON.stringify(pathToFileURL(m).href)});`).join('');
  const script =
    `const t = performance.now(); const c = process.cpuUsage(); ${imports}` +
    `const u = process.cpuUsage(c); process.stdout.write('@@ms=' + (performance.now() - t) + ' ' + (u.user + u.system) / 1000);`;
  const times: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(process.execPath, [...nodeFlags, '--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    });
    const m = /@@ms=([\d.]+) ([\d.]+)/.exec(r.stdout);
    if (r.status !== 0 || !m)
      throw new Error(`importing ${modules.join(', ')} failed: ${r.stderr.slice(-2000)}`);
    times.push(Math.round(Number(m[1])));
    cpu.push(Math.round(Number(m[2])));
  }
  return { ms: median(times), runs: times, cpuMs: median(cpu), entry: modules.join(', '), nodeFlags };
}

/** Bytes of every file under `dir`. */
export function directoryBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? directoryBytes(p) : statSync(p).size;
  }
  return total;
}
