// The status page's HTTP answer: HTML for a browser, the same data as JSON for `Accept: application/json`.
import type { StatusPage } from './model.js';
import { renderStatusHtml } from './html.js';

/** JSON when the caller asks for it and does not prefer HTML (browsers send text/html first; curl sends *\/*). */
export function wantsJson(accept: string | null | undefined): boolean {
  const a = (accept ?? '').toLowerCase();
  return a.includes('application/json') && !a.includes('text/html');
}

// No script, no external asset, no framing: the page is inert even if an escape were ever missed.
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  vary: 'Accept',
};

export interface StatusResponse {
  status: number;
  body?: string;
  jsonBody?: StatusPage;
  headers: Record<string, string>;
}

export function statusResponse(page: StatusPage, accept: string | null | undefined): StatusResponse {
  if (wantsJson(accept))
    return {
      status: 200,
      jsonBody: page,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
        vary: 'Accept',
      },
    };
  return { status: 200, body: renderStatusHtml(page), headers: PAGE_HEADERS };
}
