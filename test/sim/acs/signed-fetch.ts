// Test helper: a hand-made ACS request signed with the access key, exactly as @azure/communication-common signs
// (to probe headers, tampering and the raw wire answers without the SDK's retries and pollers).
import { createHash, createHmac } from 'node:crypto';
import type { SimCloud } from '../cloud.js';

export interface SignedFetchOptions {
  /** x-ms-date (default now, real time: the service compares it with its own clock). */
  date?: Date;
  /** Sends this body instead of the signed one (tampering). */
  sendBody?: string;
  headers?: Record<string, string>;
}

export function signedFetch(
  cloud: SimCloud,
  method: 'GET' | 'POST',
  pathAndQuery: string,
  body = '',
  opts: SignedFetchOptions = {},
): Promise<Response> {
  const url = new URL(pathAndQuery, cloud.origins.acs);
  const date = (opts.date ?? new Date()).toUTCString();
  const hash = createHash('sha256').update(body).digest('base64');
  const query = url.searchParams.toString();
  const toSign = `${method}\n${url.pathname}${query ? `?${query}` : ''}\n${date};${url.host};${hash}`;
  const sig = createHmac('sha256', Buffer.from(cloud.acsAccessKey, 'base64')).update(toSign).digest('base64');
  return fetch(url, {
    method,
    headers: {
      'x-ms-date': date,
      'x-ms-content-sha256': hash,
      authorization: `HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=${sig}`,
      ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
      ...opts.headers,
    },
    body: method === 'POST' ? (opts.sendBody ?? body) : undefined,
  });
}
