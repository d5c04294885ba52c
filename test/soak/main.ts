// npm run soak [-- --days 365 --apps 300 --seed 1]: a simulated year against the simulated cloud and Azurite.
// Prints progress on stderr and, last, one JSON line with the summary on stdout; exit 1 on any violation.
import { parseArgs } from 'node:util';
import { startAzurite } from '../sim/azurite.js';
import { runSoak } from './soak.js';

const { values } = parseArgs({
  options: {
    days: { type: 'string', default: '365' },
    apps: { type: 'string', default: '300' },
    seed: { type: 'string', default: '1' },
    'no-crashes': { type: 'boolean', default: false },
  },
});
const whole = (name: string, raw: string) => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(
      `soak: --${name} must be a whole number of at least 1, got ${JSON.stringify(raw)}\n`,
    );
    process.exit(2);
  }
  return n;
};
const days = whole('days', values.days);
const apps = whole('apps', values.apps);
const seed = whole('seed', values.seed);

// Azurite takes longer than the suite's 20 s to start on a loaded machine (load 25 on 2 cores): give it a minute,
// and try again before giving up (a start given up kills its process).
const start = () => startAzurite({ timeoutMs: 60_000 });
const azurite = await start().catch(start).catch(start);
try {
  const { summary } = await runSoak({
    days,
    apps,
    seed,
    storage: azurite.connectionString,
    crashes: !values['no-crashes'],
    progress: (line) => process.stderr.write(`soak: ${line}\n`),
  });
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exitCode = summary.violations ? 1 : 0;
} finally {
  await azurite.stop();
}
