// The Graph SDK's client as the adapter uses it: the SDK's default middleware chain, but for its last step, which goes
// over node:https with one keep-alive agent instead of the global fetch (undici): the same request, the same
// Response, less CPU per request (issue 15: the rotator is CPU-bound on a large tenant, and most of its CPU is spent
// per request). Everything before that step (token, telemetry headers, redirects) is the SDK's own.
import type { TokenCredential } from '@azure/identity';
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import {
  AuthenticationHandler,
  Client,
  RedirectHandler,
  RedirectHandlerOptions,
  RetryHandler,
  RetryHandlerOptions,
  TelemetryHandler,
  type Context,
  type Middleware,
} from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';
import type { Settings } from '../settings.js';
import { MAX_SOCKETS_PER_HOST } from './http-client.js';
import { graphScope } from './identity.js';
import { reuseTokens } from './token-reuse.js';

// Sockets are reused across requests. Node drops an idle socket before the server's `Keep-Alive: timeout=` hint
// runs out (so a request never meets a socket the server is closing) only when the agent has a timeout of its own.
const AGENT = { keepAlive: true, timeout: 60_000, maxSockets: MAX_SOCKETS_PER_HOST };
const httpsAgent = new HttpsAgent(AGENT);
const httpAgent = new HttpAgent(AGENT);

type HeadersInit = Headers | Array<[string, string]> | Record<string, string>;

function plainHeaders(init: HeadersInit | undefined): Record<string, string> {
  if (!init) return {};
  if (init instanceof Headers) return Object.fromEntries(init.entries());
  if (Array.isArray(init)) return Object.fromEntries(init);
  return { ...init };
}

function responseHeaders(raw: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.set(name, value);
  }
  return headers;
}

/** Statuses whose Response has no body (the Response constructor refuses one). */
const NULL_BODY = new Set([101, 204, 205, 304]);

/** One HTTP exchange as fetch would answer it, the body read whole (Graph's answers are JSON). */
export function send(url: string, init: RequestInit = {}): Promise<Response> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const body = init.body;
  if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof Uint8Array))
    return Promise.reject(new TypeError('graph-transport sends string or byte bodies only'));
  const signal = init.signal ?? undefined;
  return new Promise<Response>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const req = (secure ? httpsRequest : httpRequest)(
      target,
      {
        method: init.method ?? 'GET',
        headers: plainHeaders(init.headers as HeadersInit | undefined),
        agent: secure ? httpsAgent : httpAgent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const payload = NULL_BODY.has(status) ? null : Buffer.concat(chunks);
          resolve(
            new Response(payload, {
              status,
              statusText: res.statusMessage ?? '',
              headers: responseHeaders(res.headers),
            }),
          );
        });
      },
    );
    const abort = () => req.destroy(signal!.reason as Error);
    signal?.addEventListener('abort', abort, { once: true });
    req.on('error', reject);
    req.on('close', () => signal?.removeEventListener('abort', abort));
    req.end(body ?? undefined);
  });
}

/** The chain's last middleware: sends the request and sets the response, as the SDK's HTTPMessageHandler does. */
export class HttpsMessageHandler implements Middleware {
  async execute(context: Context): Promise<void> {
    // The SDK passes the URL as a string; anything else goes to fetch, as the SDK's own handler does.
    context.response =
      typeof context.request === 'string'
        ? await send(context.request, context.options as RequestInit | undefined)
        : await fetch(context.request, context.options as RequestInit | undefined);
  }
}

/** The SDK client for the configured Graph endpoint, its token reused (token-reuse.ts), over HttpsMessageHandler. */
export function graphClient(credential: TokenCredential, settings: Settings): Client {
  const auth = new TokenCredentialAuthenticationProvider(reuseTokens(credential), {
    scopes: [graphScope(settings)],
  });
  return Client.initWithMiddleware({
    middleware: [
      new AuthenticationHandler(auth),
      new RetryHandler(new RetryHandlerOptions()),
      new RedirectHandler(new RedirectHandlerOptions()),
      new TelemetryHandler(),
      new HttpsMessageHandler(),
    ],
    baseUrl: `${settings.graphEndpoint}/`,
    defaultVersion: 'v1.0',
    // The SDK sends the token only to hosts it knows; the configured endpoint must receive it (national clouds,
    // proxies, the simulator).
    customHosts: new Set([new URL(settings.graphEndpoint).hostname]),
  });
}
