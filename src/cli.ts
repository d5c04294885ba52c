#!/usr/bin/env node
// entra-secret-rotator scan|rotate: the same engine as the Functions app, for operators and scripts
// (contract.md §4). Exit codes: 0 fine, 1 an app failed, 2 bad usage or settings (and then stdout is empty).
import { realpathSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { fileURLToPath } from 'node:url';
import { describeError } from './errors.js';
import { inline } from './handoff.js';
import { rootCause, RunAbortedError } from './rotation/engine.js';
import { connect, runOnce } from './run.js';
import { loadSettings, SettingsError } from './settings.js';
import { JsonReportWriter, TableReportWriter } from './report-writer.js';
import { parseCommand, usageError, type Io } from './cli/parse.js';

export type { Io } from './cli/parse.js';

export async function main(argv: string[], env: Record<string, string | undefined>, io: Io): Promise<number> {
  const chosen = await parseCommand(argv, io);
  if (typeof chosen === 'number') return chosen;
  const { command, opts } = chosen;
  let settings;
  try {
    settings = loadSettings(env, { requireKeyVault: command === 'rotate' });
  } catch (err) {
    if (err instanceof SettingsError) return usageError(io, err.message);
    throw err;
  }

  const log = (msg: string, fields?: Record<string, unknown>) => {
    io.stderr.write(`[entra-secret-rotator] ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
  };
  // Settings that lower a safeguard (custom endpoints, challenge verification off) are said once, up front.
  for (const warning of settings.warnings) log(`warning: ${warning}`);
  // The report goes out while the run goes (see report-writer.ts); apps that were notified come last.
  const out = (s: string) => io.stdout.write(s);
  const writer = opts.json ? new JsonReportWriter(out) : new TableReportWriter(out);
  try {
    const deps = await connect(settings, log);
    const request = {
      mode: command,
      dryRun: !!opts.dryRun,
      appIds: opts.app,
      force: !!opts.force,
      all: !!opts.all,
      revokeSuperseded: !!opts.revokeSuperseded,
      stream: writer,
    };
    const { report } = (await runOnce(deps, 'cli', inline, request)).result!;
    writer.finish(report);
    return report.summary.failed > 0 ? 1 : 0;
  } catch (err) {
    // A run that cannot start (identity, Graph unreachable) fails as a whole: say what and where, no stack trace.
    // One that fails after it started prints the report of what it did, marked incomplete.
    const why = describeError(rootCause(err));
    writer.fail(why, err instanceof RunAbortedError ? err.partial.report : undefined);
    io.stderr.write(`entra-secret-rotator: the run failed before it could finish: ${why}\n`);
    return 1;
  }
}

function invokedDirectly(): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  // A run is a batch job that waits on the network, with memory to spare in CPU: ask V8 to keep its heap close
  // to what is live instead of letting it grow fourfold (bench: 50,000 apps' peak RSS 254 MiB → about 140 MiB,
  // same wall time). Set at run time because the CLI (`entra-secret-rotator`) takes no node flags; V8 reads this
  // one at each GC.
  setFlagsFromString('--optimize-for-size');
  // The young generation likewise: V8 doubles its semi-spaces (1 MiB each at start) up to 16 MiB while many
  // objects survive a scavenge, which a long run's responses in flight make them do (bench: 16 MiB of young
  // generation at 1,000 apps, 32 at 50,000, each resident once touched). `--max-semi-space-size` is read only as
  // the heap is set up, so too late here; the growth factor is read at each growth, and 1 keeps the semi-spaces at
  // their initial size. Nothing else reads it. (A V8 that clamps it to 2 just grows as by default.)
  setFlagsFromString('--semi-space-growth-factor=1');
  main(process.argv.slice(2), process.env, process).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`entra-secret-rotator: unexpected error: ${describeError(err)}\n`);
      process.exitCode = 1;
    },
  );
}
