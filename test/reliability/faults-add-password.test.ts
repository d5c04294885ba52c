// Fault matrix (see fault-suite.ts) for addPassword, the one write whose secret is shown once and that has no
// idempotency key, and a Graph outage on it for one app.
import { describe, expect, it } from 'vitest';
import { faultMatrix, useFaultCloud } from './fault-suite.js';
import { assertInvariants, startCase } from './harness.js';

const f = useFaultCloud('graph.addPassword');
faultMatrix(['graph.addPassword'], f);

describe('a Graph outage on addPassword for one app', () => {
  it('three 503s in a row (Retry-After 1): each is resolved by looking, and the app is still rotated once', async () => {
    const { cloud } = f;
    const {
      tenant: { due },
      emitted,
      mailFrom,
      persons,
      before,
    } = await startCase(cloud);
    const fault = cloud.faults.add({
      op: 'graph.addPassword',
      status: 503,
      retryAfterSeconds: 1,
      times: 3,
      when: (req) => req.path.includes(due.id),
    });
    const faulted = await f.cli(['rotate', '--json'], emitted, 'faulted run');
    cloud.faults.clear();
    expect(fault.hits).toBe(3);
    expect(faulted.code, faulted.stderr).toBe(0);
    expect(faulted.report!.apps.find((a) => a.appId === due.appId)?.action).toBe('rotated');
    assertInvariants(cloud, { before, persons, fresh: true, emitted, mailOfCase: mailFrom });
    f.rows.push({ step: 'addPassword', kind: '503 ×3 for one app', faulted: faulted.report?.summary });
  });
});
