// The simulated cloud as a child process (test/sim/main.ts), as the bench drives it: start, read its ready
// line, ask its control API for statistics, stop.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

export interface Ready {
  ready: true;
  env: Record<string, string>;
  control: string;
  tenantId: string;
}

/** GET /stats of test/sim/main.ts. */
export interface SimStats {
  requests: Record<string, Record<string, Record<string, number>>>;
  throttled: Record<string, number>;
  totalRequests: number;
  emailsSent: number;
  emailsDropped: number;
  graphWrites: number;
}

export interface SimProcess {
  ready: Ready;
  /** CPU seconds the simulator process has used so far. */
  cpuSeconds(): number;
  /** Of those, its main thread's (the event loop, which one core at most can run). */
  mainThreadCpuSeconds(): number;
  stats(): Promise<SimStats>;
  /** Distinct addresses the sent messages went to. */
  distinctRecipients(): Promise<number>;
  /** Shrinks the pair's Graph write budget (limit per window) for a short run that still crosses its windows. */
  setWriteBudget(limit: number, windowSeconds: number): Promise<void>;
  /** An access token of a caller of the rotator's own API holding `roles`, signed by the simulated authority. */
  callerToken(roles: string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startSim(cwd: string, args: string[]): Promise<SimProcess> {
  // stdin is a pipe: the simulator exits when we do, even if we crash.
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/sim/main.ts', ...args],
    { cwd, env: process.env, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) =>
      reject(new Error(`simulator exited with ${code} before it was ready: ${stderr}`)),
    );
  });
  const ready = JSON.parse(line) as Ready;
  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${ready.control}${path}`);
    if (!res.ok) throw new Error(`simulator ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  return {
    ready,
    cpuSeconds: () => processCpuSeconds(child.pid),
    mainThreadCpuSeconds: () => processCpuSeconds(child.pid, child.pid),
    stats: () => get<SimStats>('/stats'),
    async distinctRecipients() {
      const mail = await get<Array<{ to: string[]; dropped: boolean }>>('/mail');
      return new Set(mail.filter((m) => !m.dropped).flatMap((m) => m.to.map((a) => a.toLowerCase()))).size;
    },
    async setWriteBudget(limit, windowSeconds) {
      const res = await fetch(`${ready.control}/graph-budgets`, {
        method: 'POST',
        body: JSON.stringify({ appTenantWrites: limit, appTenantWritesWindowMs: windowSeconds * 1000 }),
      });
      if (!res.ok) throw new Error(`simulator /graph-budgets: ${res.status} ${await res.text()}`);
    },
    async callerToken(roles) {
      const res = await fetch(`${ready.control}/caller-token`, {
        method: 'POST',
        body: JSON.stringify({ roles, name: 'Bench Operator' }),
      });
      if (!res.ok) throw new Error(`simulator /caller-token: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { token: string }).token;
    },
    async stop() {
      await fetch(`${ready.control}/shutdown`, { method: 'POST' }).catch(() => undefined);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * CPU seconds (user + system) a process has used so far, or one of its threads (`tid`; the main thread's id is
 * the pid), from /proc (Linux; 0 elsewhere).
 */
export function processCpuSeconds(pid: number | undefined, tid?: number): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(
      tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`,
      'utf8',
    );
    return cpuSecondsOfStat(stat);
  } catch {
    return 0;
  }
}

/** utime + stime of a /proc stat line: the 12th and 13th fields after the command name (which may hold spaces). */
export function cpuSecondsOfStat(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

// Linux's USER_HZ, what /proc counts CPU time in; 100 on every mainstream kernel build.
const CLOCK_TICKS = 100;
