// Strict request handling for the HTTP functions (contract.md §6): everything is validated before any call to the
// cloud, and every refusal is `{"error": {"code", "message"}}` with the fitting status.
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { CallerRefused } from '../../auth/callers.js';
import { isGuid } from '../../azure/queue.js';
import { describeError } from '../../errors.js';
import type { Report } from '../../rotation/report.js';
import { SettingsError } from '../../settings.js';

export const MAX_BODY_BYTES = 64 * 1024;
export const MAX_APP_IDS = 100;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return {
    status,
    jsonBody: body,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  };
}

export function errorResponse(err: unknown, context: InvocationContext): HttpResponseInit {
  if (err instanceof HttpError || err instanceof CallerRefused)
    return json(err.status, { error: { code: err.code, message: err.message } }, err.headers);
  if (err instanceof SettingsError)
    return json(500, { error: { code: 'invalid_setting', message: err.message } });
  // Details go to the log only: the caller learns where to look, never a stack or a service's raw message.
  context.error(JSON.stringify({ event: 'http-error', error: describeError(err) }));
  return json(500, {
    error: {
      code: 'internal_error',
      message: `the run failed unexpectedly; see the function logs (invocation ${context.invocationId})`,
    },
  });
}

export function requireMethod(request: HttpRequest, allowed: string): void {
  if (request.method.toUpperCase() !== allowed)
    throw new HttpError(405, 'method_not_allowed', `use ${allowed}`, { allow: allowed });
}

/** Reads the body up to MAX_BODY_BYTES, trusting neither the Content-Length header nor its absence. */
async function readBody(request: HttpRequest): Promise<Uint8Array> {
  const tooLarge = () =>
    new HttpError(413, 'payload_too_large', `the request body is larger than ${MAX_BODY_BYTES} bytes`);
  const declared = request.headers.get('content-length');
  if (declared !== null) {
    if (!/^\d+$/.test(declared.trim())) throw new HttpError(400, 'invalid_request', 'invalid Content-Length');
    if (Number(declared) > MAX_BODY_BYTES) throw tooLarge();
  }
  if (!request.body) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = (await reader.read()) as { done: boolean; value?: Uint8Array };
    if (done) break;
    if (!value) continue;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

export interface RotateRequest {
  appIds?: string[];
  dryRun: boolean;
  force: boolean;
  /** Emergency (contract §8): every app in scope, due or not; needs force, excludes appIds. */
  all?: true;
  /** Emergency: once an app's new secret is stored, remove every other password credential; needs force. */
  revokeSuperseded?: true;
}

const bad = (message: string) => new HttpError(400, 'invalid_request', message);

const FIELDS = ['appIds', 'dryRun', 'force', 'all', 'revokeSuperseded'];

/** The JSON object of a POST body; an empty body is `{}`. */
async function readJsonObject(request: HttpRequest): Promise<Record<string, unknown>> {
  const bytes = await readBody(request);
  if (bytes.byteLength === 0) return {};
  const type = request.headers.get('content-type') ?? '';
  const [media, ...params] = type.split(';').map((p) => p.trim().toLowerCase());
  const charset = params
    .find((p) => p.startsWith('charset='))
    ?.slice(8)
    .replace(/"/g, '');
  if (media !== 'application/json' || (charset !== undefined && charset !== 'utf-8'))
    throw new HttpError(415, 'unsupported_media_type', 'send the body as application/json (UTF-8)');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new HttpError(400, 'invalid_json', 'the body is not valid UTF-8');
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'invalid_json', 'the body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw bad('the body must be a JSON object such as {"appIds": ["<guid>"], "dryRun": true}');
  return body as Record<string, unknown>;
}

function parseAppIds(list: unknown): string[] {
  if (!Array.isArray(list)) throw bad('appIds must be an array of appIds (GUIDs)');
  // An empty list would read as "every app" to some and "no app" to others: refuse it.
  if (list.length === 0) throw bad('appIds is empty; leave it out to run over the whole scope');
  if (list.length > MAX_APP_IDS) throw bad(`appIds lists more than ${MAX_APP_IDS} apps`);
  const bad1 = list.find((a) => !isGuid(a));
  if (bad1 !== undefined)
    throw bad(
      `appIds contains ${typeof bad1 === 'string' ? JSON.stringify(bad1.slice(0, 64)) : `a ${bad1 === null ? 'null' : typeof bad1}`}, which is not an appId (a GUID)`,
    );
  const appIds = (list as string[]).map((a) => a.toLowerCase());
  const dup = appIds.find((a, i) => appIds.indexOf(a) !== i);
  if (dup) throw bad(`appIds lists ${dup} more than once`);
  return appIds;
}

/**
 * POST /api/rotate body: `{"appIds"?: [guid], "dryRun"?: bool, "force"?: bool}`, or the emergency
 * `{"all": true, "force": true, "revokeSuperseded"?: true}` (contract §8); an empty body means `{}`.
 */
export async function parseRotateRequest(request: HttpRequest): Promise<RotateRequest> {
  const fields = await readJsonObject(request);
  const unknown = Object.keys(fields).filter((k) => !FIELDS.includes(k));
  if (unknown.length)
    throw new HttpError(
      400,
      'unknown_field',
      `unknown field ${JSON.stringify(unknown[0]!.slice(0, 64))}; accepted: ${FIELDS.join(', ')}`,
    );
  for (const k of ['dryRun', 'force', 'all', 'revokeSuperseded'] as const)
    if (fields[k] !== undefined && typeof fields[k] !== 'boolean') throw bad(`${k} must be true or false`);
  const appIds = fields.appIds === undefined ? undefined : parseAppIds(fields.appIds);
  const force = fields.force === true;
  const all = fields.all === true;
  const revokeSuperseded = fields.revokeSuperseded === true;
  if (all && appIds) throw bad('all rotates every app in scope: leave appIds out');
  if (all && !force) throw bad('all needs force: true (an emergency rotation of every app in scope)');
  if (revokeSuperseded && !force) throw bad('revokeSuperseded needs force: true');
  if (force && !appIds && !all)
    throw bad('force needs appIds; to force every app in scope, send {"all": true, "force": true}');
  return {
    appIds,
    dryRun: fields.dryRun === true,
    force,
    ...(all ? { all } : {}),
    ...(revokeSuperseded ? { revokeSuperseded } : {}),
  };
}

const NOT_IN_SCOPE = 'not found or not in scope';

/** The entry codes of apps named by appId that are not the rotator's to touch (missing, not owned, untagged). */
const OUTSIDE = new Set(['app-not-found', 'not-an-owner', 'not-in-scope']);

/**
 * An HTTP caller learns nothing about apps outside the scope (issue 13): an appId that is unknown and one that is
 * out of scope read alike, with no display name. The CLI's operator keeps the precise reason (contract §7).
 */
export function concealOutOfScope(report: Report): Report {
  if (!report.apps.some((a) => a.code && OUTSIDE.has(a.code))) return report;
  const apps = report.apps.map((a) =>
    a.code && OUTSIDE.has(a.code)
      ? {
          appId: a.appId,
          displayName: '',
          action: a.action,
          code: 'not-in-scope' as const,
          reason: NOT_IN_SCOPE,
        }
      : a,
  );
  return { ...report, apps };
}
