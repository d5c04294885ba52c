// The SDK clients' shared HTTP client (src/azure/http-client.ts): many requests at once to one host open at most
// MAX_SOCKETS_PER_HOST connections (each idle TLS connection holds about 100 KB of native memory), and reuse them.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createPipelineRequest } from '@azure/core-rest-pipeline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MAX_SOCKETS_PER_HOST, sharedHttpClient } from '../../src/azure/http-client.js';
import { tlsOptions } from '../sim/http.js';

let server: Server;
let origin = '';
let connections = 0;
beforeAll(async () => {
  // Answers after a short wait, so that the requests overlap.
  server = createServer(tlsOptions(), (_req, res) => setTimeout(() => res.end('{"ok":true}'), 20));
  server.on('secureConnection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `https://localhost:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

it(`opens at most ${MAX_SOCKETS_PER_HOST} connections to a host however many requests are in flight`, async () => {
  const client = sharedHttpClient();
  const send = () => client.sendRequest(createPipelineRequest({ url: `${origin}/x` }));
  const first = await Promise.all(Array.from({ length: 3 * MAX_SOCKETS_PER_HOST }, send));
  expect(first.every((r) => r.status === 200 && r.bodyAsText === '{"ok":true}')).toBe(true);
  expect(connections).toBe(MAX_SOCKETS_PER_HOST);
  // A second burst reuses them.
  await Promise.all(Array.from({ length: MAX_SOCKETS_PER_HOST }, send));
  expect(connections).toBe(MAX_SOCKETS_PER_HOST);
});
