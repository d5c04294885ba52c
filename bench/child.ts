// A measured child process of the bench: spawned with the simulator's environment, timed, its phases read from its
// log lines, and its peak RSS and CPU time reported by the child itself as it exits.
import { spawn, type ChildProcess } from 'node:child_process';

const RUN_TIMEOUT_MS = 20 * 60_000;

export interface ChildRun {
  exitCode: number | null;
  wallMs: number;
  maxRssKiB: number;
  cpuSeconds: number;
  /** -1 when unknown. */
  mainThreadCpuSeconds: number;
  stdout: string;
  /** When each phase's log line came first and last (s after `started`). */
  phases: Record<string, number>;
}

// Peak RSS (getrusage ru_maxrss, KiB), CPU time (user + system, µs) and its main thread's CPU time (s, from
// /proc on Linux, else -1) as the kernel counts them, reported by the child itself as it exits: exact, and no
// polling. They go to stderr on a marker line, after the run's last log line.
const USAGE_MARK = '@@bench-usage=';
const USAGE_PRELOAD =
  'data:text/javascript,' +
  encodeURIComponent(
    `import { readFileSync } from 'node:fs';
process.on('exit', () => {
  const u = process.resourceUsage();
  let main = -1;
  try {
    const stat = readFileSync('/proc/self/task/' + process.pid + '/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    main = (Number(f[11]) + Number(f[12])) / 100;
  } catch {}
  process.stderr.write('\\n${USAGE_MARK}' + JSON.stringify([u.maxRSS, u.userCPUTime + u.systemCPUTime, main]) + '\\n');
});`,
  );

/** The phase a log line of the rotator names (`[entra-secret-rotator] rotated {…}`), if any. */
export function phaseOf(line: string): string | undefined {
  const m = /^\[entra-secret-rotator\] (mail to [^:]+: sent|[a-z ]+?)(?: \{|$| \()/.exec(line);
  return m?.[1]?.startsWith('mail to') ? 'mail sent' : m?.[1];
}

export interface SpawnedChild {
  child: ChildProcess;
  done: Promise<ChildRun>;
}

/**
 * Runs a Node program with `env`, recording when its phases' log lines appear (relative to `started`, default its
 * spawn) and handing every other stderr line to `onLine`. `stdin: 'pipe'` lets the caller tell it to stop.
 */
export function spawnChild(
  nodeArgs: string[],
  env: Record<string, string>,
  opts: { cwd: string; started?: () => number; onLine?: (line: string) => void; stdin?: 'pipe' } = {
    cwd: process.cwd(),
  },
): SpawnedChild {
  const spawnedAt = performance.now();
  const started = opts.started ?? (() => spawnedAt);
  const child = spawn(process.execPath, ['--import', USAGE_PRELOAD, ...nodeArgs], {
    cwd: opts.cwd,
    env: { ...process.env, ...env },
    stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  const phases: Record<string, number> = {};
  const usage = { maxRssKiB: 0, cpuSeconds: 0, main: -1 };
  let pending = '';
  const errTail: string[] = [];
  child.stderr!.on('data', (d: Buffer) => {
    const at = (performance.now() - started()) / 1000;
    pending += d.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith(USAGE_MARK)) {
        const [rss, cpuMicros, main] = JSON.parse(line.slice(USAGE_MARK.length)) as number[];
        Object.assign(usage, { maxRssKiB: rss!, cpuSeconds: cpuMicros! / 1e6, main: main! });
        continue;
      }
      const msg = phaseOf(line);
      if (msg) {
        phases[`first ${msg}`] ??= at;
        phases[`last ${msg}`] = at;
      }
      opts.onLine?.(line);
      errTail.push(line);
      if (errTail.length > 20) errTail.shift();
    }
  });
  // A hung run must not hang CI: 20 minutes is far beyond the 50,000-app run on a slow machine.
  const watchdog = setTimeout(() => {
    process.stderr.write(`child still running after ${RUN_TIMEOUT_MS / 60_000} min: killing it\n`);
    child.kill('SIGKILL');
  }, RUN_TIMEOUT_MS);
  const done = new Promise<ChildRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(watchdog);
      const wallMs = performance.now() - spawnedAt;
      if (code !== 0 && code !== 1) process.stderr.write(`child exited ${code}:\n${errTail.join('\n')}\n`);
      resolve({
        exitCode: code,
        wallMs,
        maxRssKiB: usage.maxRssKiB,
        cpuSeconds: usage.cpuSeconds,
        mainThreadCpuSeconds: usage.main,
        stdout: Buffer.concat(out).toString('utf8'),
        phases,
      });
    });
  });
  return { child, done };
}
