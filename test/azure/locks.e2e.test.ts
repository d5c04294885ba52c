// Blob-lease locks (src/azure/locks.ts) against Azurite, through a counting proxy: the lock blob is written once,
// when its first lease finds it missing, not before every lease. A write per lease cost a storage transaction each
// time, and in Azurite an orphaned extent each, whose garbage collection froze the emulator for minutes (300-app
// simulated years: the soak idled while Azurite burned CPU deleting them one by one).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AppLocks } from '../../src/azure/locks.js';
import type { TokenCredential } from '@azure/identity';

const requests: string[] = [];
let proxy: http.Server;
let connectionString: string;

beforeAll(async () => {
  const azurite = inject('azuriteConnectionString');
  const blobEndpoint = new URL(/BlobEndpoint=([^;]+)/.exec(azurite)![1]!);
  proxy = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    requests.push(
      `${req.method} ${url.searchParams.get('comp') ?? 'blob'} ${url.pathname.split('/').at(-1)}`,
    );
    const upstream = http.request(
      {
        host: blobEndpoint.hostname,
        port: blobEndpoint.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as AddressInfo;
  connectionString = azurite.replace(
    /BlobEndpoint=[^;]+/,
    `BlobEndpoint=http://127.0.0.1:${port}${blobEndpoint.pathname}`,
  );
});
afterAll(() => new Promise<void>((resolve) => proxy.close(() => resolve())));

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
