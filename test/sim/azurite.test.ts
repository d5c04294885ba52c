// A start of Azurite that times out kills the process it spawned (npm run soak retries the start on a loaded machine:
// each given-up attempt used to leave an Azurite running, holding ports and memory, beside the next).
import { describe, expect, it } from 'vitest';
import { AzuriteStartError, startAzurite } from './azurite.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('startAzurite', () => {
  it('kills the process of a start that timed out', { timeout: 60_000 }, async () => {
    const err = await startAzurite({ timeoutMs: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AzuriteStartError);
    const pid = (err as AzuriteStartError).pid!;
    expect(pid).toBeGreaterThan(0);
    // The kill is sent at once; the process is gone once the kernel and Node have reaped it.
    for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive(pid)).toBe(false);
  });
});
