// Fault matrix, in process: every external step of a rotation × every way it can fail. Each case runs the real
// CLI entry point (`main`) with the fault, then again without faults, then asserts the invariants (harness.ts,
// assertInvariants) over the whole tenant. The cases are split by concern, one file per step group or fault kind
// (faults-*.test.ts), so a failing case names its file, and vitest's workers share the load.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimCloud } from '../sim/cloud.js';
import type { FaultRule } from '../sim/http.js';
import type { Emitted } from './harness.js';
import {
  assertInvariants,
  checkNothingChanged,
  checkNothingDoubled,
  checkOneMailPerRecipient,
  cliInProcess,
  startHarnessCloud,
  recordResults,
  snapshotKeyIds,
  startCase,
  STEPS,
} from './harness.js';

/** One test file's simulated cloud (started before its cases, stopped after), its results rows and its CLI. */
export interface FaultFile {
  cloud: SimCloud;
  env: Record<string, string>;
  rows: unknown[];
  cli(args: string[], emitted: Emitted, label: string): ReturnType<typeof cliInProcess>;
}

/** Registers the cloud of the calling test file; `name` labels its rows in test/reliability/results.json. */
export function useFaultCloud(name: string): FaultFile {
  const file = {
    rows: [] as unknown[],
    cli: (args: string[], emitted: Emitted, label: string) => cliInProcess(args, file.env, emitted, label),
  } as FaultFile;
  beforeAll(async () => {
    ({ cloud: file.cloud, env: file.env } = await startHarnessCloud());
  });
  afterAll(async () => {
    recordResults(`faults.test.ts#${name}`, file.rows);
    await file.cloud?.stop();
  });
  return file;
}

type Op = (typeof STEPS)[number]['op'];

// The status that "fails always" means for each step (403: permission revoked), and the CLI's exit code when the
// step never works (1: apps failed, e.g. a two-password app that cannot make room; 0: only notification was
// affected, which never fails a rotation).
const failsAlways: Record<Op, { always: number; alwaysExit: number }> = {
  'graph.listOwnedObjects': { always: 403, alwaysExit: 1 },
  'graph.batch': { always: 500, alwaysExit: 0 },
  'graph.addPassword': { always: 403, alwaysExit: 1 },
  'entra.token': { always: 500, alwaysExit: 1 },
  'keyvault.setSecret': { always: 403, alwaysExit: 1 },
  'keyvault.listVersions': { always: 500, alwaysExit: 1 },
  'acs.send': { always: 500, alwaysExit: 0 },
  'graph.removePassword': { always: 500, alwaysExit: 1 },
};

type Kind =
  | 'fails once (500)'
  | 'fails always'
  | '429 burst'
  | '503'
  | 'reset'
  | 'commitThenReset'
  | 'commitThen503'
  | 'commitThen504';
// commitThen5xx: the operation is done, then a gateway answers an error anyway (the write landed unseen).
const kinds: Kind[] = [
  'fails once (500)',
  'fails always',
  '429 burst',
  '503',
  'reset',
  'commitThenReset',
  'commitThen503',
  'commitThen504',
];

function rule(op: string, kind: Kind, always: number): FaultRule {
  switch (kind) {
    case 'fails once (500)':
      return { op, status: 500, times: 1 };
    case 'fails always':
      return { op, status: always };
    case '429 burst':
      return { op, status: 429, times: 3, retryAfterSeconds: 1 };
    case '503':
      return { op, status: 503, times: 2, retryAfterSeconds: 1 };
    case 'reset':
      return { op, kind: 'reset', times: 1 };
    case 'commitThenReset':
      return { op, kind: 'commitThenReset', times: 1 };
    case 'commitThen503':
      return { op, kind: 'commitThenStatus', status: 503, retryAfterSeconds: 1, times: 1 };
    case 'commitThen504':
      return { op, kind: 'commitThenStatus', status: 504, times: 1 };
  }
}

/** The matrix rows of these steps: each step × every fault kind, one case each (in `f`'s cloud, if given). */
export function faultMatrix(ops: Op[], f: FaultFile = useFaultCloud(ops.join('+'))): void {
  const matrix = STEPS.filter((s) => ops.includes(s.op))
    .map((s) => ({ ...s, ...failsAlways[s.op] }))
    .flatMap((s) => kinds.map((kind) => ({ ...s, kind })));

  describe('fault matrix (in process)', () => {
    it.each(matrix)('$step × $kind', async ({ step, op, always, alwaysExit, kind }) => {
      const { cloud } = f;
      const { emitted, mailFrom, persons, before, seq } = await startCase(cloud);

      const fault = cloud.faults.add(rule(op, kind, always));
      const faulted = await f.cli(['rotate', '--json'], emitted, 'faulted run');
      cloud.faults.clear();
      checkOneMailPerRecipient(cloud, mailFrom);
      const mailMid = cloud.mail.messages.length;
      checkNothingDoubled(cloud, before);
      // A transient fault (once, a burst, a lost connection) is absorbed: the run still succeeds for every app.
      expect(faulted.code, faulted.stderr).toBe(kind === 'fails always' ? alwaysExit : 0);
      // A run that cannot list its apps has nothing to act on: it must change nothing.
      if (op === 'graph.listOwnedObjects' && kind === 'fails always') {
        expect(faulted.code).toBe(1);
        checkNothingChanged(cloud, seq);
      }

      const between = snapshotKeyIds(cloud);
      const clean = await f.cli(['rotate', '--json'], emitted, 'clean run');
      expect(clean.code, clean.stderr).toBe(0);
      assertInvariants(cloud, {
        before: between,
        persons,
        fresh: true,
        emitted,
        mailOfRun: mailMid,
        mailOfCase: mailFrom,
        requestsSince: seq,
      });

      f.rows.push({
        step,
        kind,
        faultHits: fault.hits,
        faultedExit: faulted.code,
        faulted: faulted.report?.summary ?? faulted.stderr.split('\n').filter(Boolean).at(-1),
        cleanExit: clean.code,
        clean: clean.report?.summary,
      });
    });
  });
}
