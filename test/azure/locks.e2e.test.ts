// Blob-lease locks (src/azure/locks.ts) against Azurite, through a counting proxy: the lock blob is written once,
// when its first lease finds it missing, not before every lease. A write per lease cost a storage transaction each
// time, and in Azurite an orphaned extent each, whose garbage collection froze the emulator for minutes (300-app
// simulated years: the soak idled while Azurite burned CPU deleting them one by one).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppLocks } from '../../src/azure/locks.js';
import type { TokenCredential } from '@azure/identity';
import { proxyAzurite, type AzuriteProxy } from './azurite-proxy.js';

const requests: string[] = [];
let proxy: AzuriteProxy;
let connectionString: string;

beforeAll(async () => {
  proxy = await proxyAzurite('Blob', (req) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    requests.push(
      `${req.method} ${url.searchParams.get('comp') ?? 'blob'} ${url.pathname.split('/').at(-1)}`,
    );
  });
  connectionString = proxy.connectionString;
});
afterAll(() => proxy.close());

describe('AppLocks', () => {
  it('writes the lock blob on its first lease only', async () => {
    const locks = new AppLocks({ kind: 'connectionString', connectionString }, {} as TokenCredential);
    const appId = randomUUID();
    for (let i = 0; i < 3; i++) {
      const lock = await locks.acquire(appId, 1000);
      expect(lock).toBeDefined();
      await lock!.release();
    }
    const onThisLock = requests.filter((r) => r.endsWith(` ${appId}.lock`));
    expect(onThisLock.filter((r) => r.startsWith('PUT blob'))).toHaveLength(1);
    expect(onThisLock.filter((r) => r.startsWith('PUT lease'))).toHaveLength(3 + 1 + 3); // 404, created, 2 more; 3 releases
  });

  it('a lease held by another run is waited for, then refused', async () => {
    const locks = new AppLocks({ kind: 'connectionString', connectionString }, {} as TokenCredential);
    const appId = randomUUID();
    const first = await locks.acquire(appId, 1000);
    expect(first).toBeDefined();
    expect(await locks.acquire(appId, 1500)).toBeUndefined();
    await first!.release();
    const again = await locks.acquire(appId, 1000);
    expect(again).toBeDefined();
    await again!.release();
  });
});
