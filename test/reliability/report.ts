// Prints the fault matrix of the newest complete reliability run (test/reliability/results.json) as Markdown, for
// the README's Reliability section:  node --import tsx test/reliability/report.ts
import { readFileSync } from 'node:fs';

interface Summary {
  scanned: number;
  rotated: number;
  upToDate: number;
  skipped: number;
  failed: number;
}
interface Row {
  step: string;
  kind: string;
  faultedExit?: number;
  faulted?: Summary | string | number;
  cleanExit?: number;
  clean?: Summary;
}
interface Counts {
  faultCases: number;
  invariantChecks: number;
  malformedInputs: number;
  concurrentRuns: number;
}
interface Results {
  runs: Record<string, { at: string; files: Record<string, Counts & { rows?: Row[] }>; totals: Counts }>;
}

const results = JSON.parse(readFileSync(new URL('./results.json', import.meta.url), 'utf8')) as Results;
// The newest run that got furthest (another suite run may still be writing its first files).
const run = Object.values(results.runs).sort(
  (a, b) => Object.keys(b.files).length - Object.keys(a.files).length || b.at.localeCompare(a.at),
)[0];
if (!run) throw new Error('no run in results.json: run the reliability suite first');

const outcome = (r: Row): string => {
  if (typeof r.faulted === 'string') return `exit ${r.faultedExit}: run stopped`;
  const s = r.faulted as Summary | undefined;
  if (!s) return '';
  const parts = [
    s.rotated && `${s.rotated} rotated`,
    s.failed && `${s.failed} failed`,
    s.skipped && `${s.skipped} skipped`,
  ];
  return `exit ${r.faultedExit}: ${parts.filter(Boolean).join(', ') || 'nothing to do'}`;
};

// The matrix runs in one file per step group (faults-*.test.ts), recorded as faults.test.ts#<steps>.
const matrix = Object.entries(run.files)
  .filter(([file]) => file.startsWith('faults.test.ts'))
  .flatMap(([, f]) => f.rows ?? [])
  .filter((r) => r.faultedExit !== undefined);
const steps = [...new Set(matrix.map((r) => r.step))];
const kinds = [...new Set(matrix.map((r) => r.kind))];
const lines = [
  `| step \\ fault | ${kinds.join(' | ')} |`,
  `|---|${kinds.map(() => '---').join('|')}|`,
  ...steps.map(
    (step) =>
      `| ${step} | ${kinds.map((k) => outcome(matrix.find((r) => r.step === step && r.kind === k)!)).join(' | ')} |`,
  ),
];
const t = run.totals;
console.log(
  `reliability: ${t.faultCases} fault cases, ${t.invariantChecks} invariant checks held, ` +
    `${t.malformedInputs} malformed inputs, ${t.concurrentRuns} concurrent runs\n`,
);
console.log(lines.join('\n'));
const others = Object.entries(run.files).flatMap(([file, f]) =>
  (f.rows ?? []).filter((r) => !matrix.includes(r)).map((r) => ({ file, ...r })),
);
console.log('\nOther cases:');
for (const r of others) console.log(`- ${r.file}: ${JSON.stringify(r)}`);
