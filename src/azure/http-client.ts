// The HTTP client the Azure SDK clients share (Key Vault, the proofs' Entra requests): one keep-alive agent whose
// connections per host are capped. A run has up to 256 apps in flight (src/rotation/engine.ts); each idle TLS
// connection holds about 100 KB of native memory (OpenSSL buffers), and without a cap every client's pool grew to
// the run's peak of simultaneous requests (bench, 50,000 apps: 250-300 open sockets, about 25 MB). Requests beyond
// the cap wait for a free connection. 24 (48 until stop 21): a page's due apps start at once and fill the pool, and
// what a burst opens stays in the allocator after the sockets close (bench, 50,000 apps: about 100 sockets at the
// peak and 13 MB more malloc'd memory than at 1,000 apps with 48; 9 MB with 24). Still above what the budgets let one run use: Graph's
// write budget (20 a second) at a 1 s latency keeps 20 writes in flight.
import { Agent } from 'node:https';
import { createDefaultHttpClient, type HttpClient } from '@azure/core-rest-pipeline';

/** Open connections per host (and per agent: Graph's transport has its own, with the same cap). */
export const MAX_SOCKETS_PER_HOST = 24;

// Node drops an idle socket before the server's `Keep-Alive: timeout=` hint runs out only when the agent has a
// timeout of its own (see graph-transport.ts).
const agent = new Agent({ keepAlive: true, timeout: 60_000, maxSockets: MAX_SOCKETS_PER_HOST });

let base: HttpClient | undefined;

/** The shared client: the SDK's own, on the capped agent (requests with their own TLS settings keep the SDK's). */
export function sharedHttpClient(): HttpClient {
  base ??= createDefaultHttpClient();
  const client = base;
  return {
    sendRequest(request) {
      if (!request.agent && !request.tlsSettings && request.url.startsWith('https:')) request.agent = agent;
      return client.sendRequest(request);
    },
  };
}
