// One of Azurite's endpoints behind a local proxy, so a test can see or hold back the requests the product sends to
// Storage: the blob locks count their writes, the write ledger meets a Storage that stops answering.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inject } from 'vitest';

export interface AzuriteProxy {
  /** Azurite's connection string with this endpoint pointed at the proxy. */
  connectionString: string;
  close(): Promise<void>;
}

/**
 * Proxies Azurite's `Blob` or `Table` endpoint. `intercept` sees each request first; returning true keeps it from
 * Azurite (it is never answered).
 */
export async function proxyAzurite(
  service: 'Blob' | 'Table',
  intercept: (req: http.IncomingMessage) => boolean | void = () => false,
): Promise<AzuriteProxy> {
  const azurite = inject('azuriteConnectionString');
  const key = new RegExp(`${service}Endpoint=([^;]+)`);
  const endpoint = new URL(key.exec(azurite)![1]!);
  const proxy = http.createServer((req, res) => {
    if (intercept(req)) return;
    const { method, headers } = req;
    const upstream = http.request(
      { host: endpoint.hostname, port: endpoint.port, path: req.url, method, headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as AddressInfo;
  return {
    connectionString: azurite.replace(
      new RegExp(`${service}Endpoint=[^;]+`),
      `${service}Endpoint=http://127.0.0.1:${port}${endpoint.pathname}`,
    ),
    close: () => {
      proxy.closeAllConnections();
      return new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
