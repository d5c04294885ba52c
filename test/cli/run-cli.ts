// The CLI run in-process, as the e2e tests drive it: main() with captured stdout and stderr, and the report
// parsed when the run asked for --json and printed one.
import { main } from '../../src/cli.js';
import type { Report } from '../../src/rotation/report.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  report?: Report;
}

export async function runCli(
  args: string[],
  env: Record<string, string | undefined>,
  printed?: string[],
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, env, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  printed?.push(stdout, stderr);
  const report = args.includes('--json') && stdout ? (JSON.parse(stdout) as Report) : undefined;
  return { code, stdout, stderr, report };
}
