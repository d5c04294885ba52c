// The bench's emergency run in one process (issue 15 §3): `rotate --all --force --revoke-superseded` through runOnce
// with the CLI's inline strategy, as the CLI will run it. Prints the JSON report on stdout and the run's log lines
// on stderr in the CLI's format (the bench reads its phases from them). Run by bench/bench.ts with the simulator's
// environment; `--no-revoke` leaves the superseded secrets.
import { inline } from '../src/handoff.js';
import { connect, runOnce } from '../src/run.js';
import { loadSettings } from '../src/settings.js';

const settings = loadSettings(process.env, { requireKeyVault: true });
const log = (msg: string, fields?: Record<string, unknown>) =>
  process.stderr.write(`[entra-secret-rotator] ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
const deps = await connect(settings, log);
const revokeSuperseded = !process.argv.includes('--no-revoke');
const { result } = await runOnce(deps, 'cli', inline, {
  mode: 'rotate',
  all: true,
  force: true,
  revokeSuperseded,
});
process.stdout.write(`${JSON.stringify(result!.report)}\n`);
process.exitCode = result!.report.summary.failed ? 1 : 0;
