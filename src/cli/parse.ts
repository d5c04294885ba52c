// The command line (contract.md §4, §8): which command, which options, or why not. Usage errors all read the same
// way: one line on stderr, exit code 2, nothing on stdout (not even with --json). Help and version go to stdout.
import { Command, CommanderError, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isGuid } from '../util/ids.js';

export interface Io {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export interface CliOptions {
  json?: boolean;
  dryRun?: boolean;
  app?: string[];
  force?: boolean;
  all?: boolean;
  revokeSuperseded?: boolean;
}

export interface Chosen {
  command: 'scan' | 'rotate';
  opts: CliOptions;
}

export const NAME = 'entra-secret-rotator';

class UsageError extends Error {}

/** The one style of every usage and settings error. */
export function usageError(io: Io, message: string): 2 {
  io.stderr.write(`${NAME}: ${message}\n`);
  return 2;
}

/** package.json's version: found upwards from this file (src/cli/ under tsx, dist/src/cli/ once built). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === NAME && pkg.version) return pkg.version;
    }
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

const HELP_AFTER = `
Examples:
  ${NAME} scan                          what is due, changes nothing
  ${NAME} rotate --dry-run              what a rotation would do, changes nothing
  ${NAME} rotate                        rotate every due secret in scope
  ${NAME} rotate --app <appId> --force  rotate one app now, due or not
  ${NAME} rotate --all --force          emergency: rotate every app in scope now

Settings come from environment variables. The main ones:
  KEY_VAULT_URL          vault that receives the new secrets (required for rotate)
  ROTATION_SCOPE         owned (default) or tagged;  ROTATION_TAG  the tag for tagged
  RENEW_BEFORE_DAYS      30;  SECRET_LIFETIME_DAYS 180;  RETIRE_AFTER_DAYS 7
  ACS_ENDPOINT or ACS_CONNECTION_STRING, EMAIL_SENDER, NOTIFY_ALSO   notification emails
  AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET   the rotator's own identity (or az login)
Every setting, with defaults and accepted values: docs/settings.md

Exit codes:
  0  every app is fine (including: nothing to do)
  1  at least one app failed, or the run could not finish
  2  bad usage or a bad setting (one line on stderr, nothing on stdout)
`;

function buildProgram(io: Io, choose: (c: Chosen) => void): Command {
  const program = new Command(NAME)
    .description(
      'Rotates Microsoft Entra app-registration client secrets before they expire, into Azure Key Vault.',
    )
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'print this help')
    .exitOverride()
    // Help and version on stdout; commander's own error text is replaced by one line (see parseCommand).
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: () => undefined });
  program
    .command('scan')
    .description('inventory of the apps in scope and what a rotation would do; changes nothing')
    .option('--json', 'print exactly one JSON report on stdout')
    .action((opts: CliOptions) => choose({ command: 'scan', opts }));
  program
    .command('rotate')
    .description('rotate every due client secret in scope')
    .option('--dry-run', 'decide and report, change nothing')
    .addOption(
      new Option('--app <appId>', 'only this app (repeatable)').argParser(
        (v: string, prev: string[] = []) => [...prev, v],
      ),
    )
    .option('--force', 'rotate even if not due (needs --app or --all)')
    .option('--all', 'with --force: every app in scope (emergency rotation)')
    .option(
      '--revoke-superseded',
      "with --force: once the new secret is stored, remove the app's other secrets, people's included",
    )
    .option('--json', 'print exactly one JSON report on stdout')
    .action((opts: CliOptions) => choose({ command: 'rotate', opts }));
  // The top-level help shows each command's flags too: one `--help` answers everything.
  program.addHelpText('after', () =>
    [...program.commands.map((c) => `\n${c.helpInformation().trimEnd()}\n`), HELP_AFTER].join(''),
  );
  return program;
}

/** Combinations commander cannot express (contract §4, §8). */
function checkCombinations({ app = [], force, all, revokeSuperseded }: CliOptions): void {
  for (const a of app)
    if (!isGuid(a))
      throw new UsageError(
        `--app ${JSON.stringify(a)} is not an appId (a GUID such as 00000000-0000-0000-0000-000000000000)`,
      );
  if (all && app.length) throw new UsageError('--all and --app exclude each other: --all means every app');
  if (all && !force) throw new UsageError('--all needs --force: rotate --all --force rotates every app now');
  if (revokeSuperseded && !force) throw new UsageError('--revoke-superseded needs --force');
  if (force && !all && !app.length)
    throw new UsageError('--force needs at least one --app, or --all for every app in scope');
}

/** The command and its options, or the exit code when there is nothing to run (help, version, a usage error). */
export async function parseCommand(argv: string[], io: Io): Promise<Chosen | number> {
  let chosen: Chosen | undefined;
  const program = buildProgram(io, (c) => (chosen = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
    if (!chosen) throw new UsageError('missing command: use scan or rotate');
    checkCombinations(chosen.opts);
    return chosen;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      // Without a command commander prints the help as an error; everything else has a message.
      if (err.code === 'commander.help') return usageError(io, 'missing command: use scan or rotate');
      return usageError(io, `${err.message.replace(/^error: /, '')} (see ${NAME} --help)`);
    }
    if (err instanceof UsageError) return usageError(io, `${err.message} (see ${NAME} --help)`);
    throw err;
  }
}
