// Key Vault on the wire: its error body, its limits and validation, the secret bundle / item / deleted shapes, and
// paging with absolute nextLinks. Shared by keyvault/secrets.ts and keyvault/deleted-secrets.ts.
import { randomUUID } from 'node:crypto';
import { SimHttpError, type ErrorShape, type SimRequest } from '../http.js';
import type { StoredSecret, StoredVersion } from './state.js';

export const RECOVERABLE_DAYS = 90;
const RECOVERY_LEVEL = 'Recoverable+Purgeable';
export const MAX_VALUE_BYTES = 25 * 1024;
const MAX_TAGS = 15;
/** The current about-secrets page says 512-character tag names and values (older pages said 256). */
const MAX_TAG_CHARS = 512;
const MAX_CONTENT_TYPE = 255;
const MAX_PAGE = 25;
const NOT_FOUND_HINT =
  'If you recently deleted this secret you may be able to recover it using the correct recovery command. ' +
  'For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182';

// ---------------------------------------------------------------------------------------------------
// Errors: {"error":{"code","message","innererror":{"code"}}}. A service error carries its inner code
// in the SimHttpError code as "Code:InnerCode", because the kernel's error hook only passes a code.

export const kvErrors: ErrorShape = {
  body(status, code, message) {
    const [outer, inner] = code.split(':');
    const mapped = status === 429 && outer === 'TooManyRequests' ? 'Throttled' : outer;
    return { error: { code: mapped, message, ...(inner ? { innererror: { code: inner } } : {}) } };
  },
  headers: () => ({ 'x-ms-request-id': randomUUID(), 'x-ms-keyvault-service-version': '1.9.2528.1' }),
};

export const badParameter = (message: string) => new SimHttpError(400, 'BadParameter', message);

export const validName = (raw: string | undefined): string => {
  const name = raw ?? '';
  // Docs: 1-127 characters, 0-9 a-z A-Z and '-', starting with a letter.
  if (!/^[a-zA-Z][0-9a-zA-Z-]{0,126}$/.test(name)) {
    throw badParameter(`The request URI contains an invalid name: ${name.slice(0, 130)}`);
  }
  return name;
};

export const secretNotFound = (name: string, version?: string) =>
  new SimHttpError(
    404,
    'SecretNotFound',
    `A secret with (name/id) ${version ? `${name}/${version}` : name} was not found in this key vault. ${NOT_FOUND_HINT}`,
  );

export const deletedNotFound = () => new SimHttpError(404, 'SecretNotFound', 'Deleted Secret not found');

const attributes = (v: StoredVersion) => ({
  enabled: v.enabled,
  ...(v.nbf !== undefined ? { nbf: v.nbf } : {}),
  ...(v.exp !== undefined ? { exp: v.exp } : {}),
  created: v.created,
  updated: v.updated,
  recoveryLevel: RECOVERY_LEVEL,
  recoverableDays: RECOVERABLE_DAYS,
});

export const bundle = (origin: string, s: StoredSecret, v: StoredVersion, withValue: boolean) => ({
  ...(withValue ? { value: v.value } : {}),
  id: `${origin}/secrets/${s.name}/${v.version}`,
  ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
  attributes: attributes(v),
  ...(v.tags ? { tags: v.tags } : {}),
});

export const item = (origin: string, s: StoredSecret, v: StoredVersion, versioned: boolean) => ({
  id: `${origin}/secrets/${s.name}${versioned ? `/${v.version}` : ''}`,
  attributes: attributes(v),
  ...(v.tags ? { tags: v.tags } : {}),
  ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
});

export const deletedInfo = (origin: string, s: StoredSecret) => ({
  recoveryId: `${origin}/deletedsecrets/${s.name}`,
  deletedDate: s.deleted!.deletedDate,
  scheduledPurgeDate: s.deleted!.scheduledPurgeDate,
});

export const versionOf = (s: StoredSecret, version: string | undefined): StoredVersion => {
  const v = version ? s.versions.find((x) => x.version === version.toLowerCase()) : s.versions.at(-1);
  if (!v) throw secretNotFound(s.name, version);
  return v;
};

export const checkTags = (tags: unknown): Record<string, string> | undefined => {
  if (tags === undefined || tags === null) return undefined;
  if (typeof tags !== 'object' || Array.isArray(tags))
    throw badParameter('Tags must be an object of strings.');
  const entries = Object.entries(tags as Record<string, unknown>);
  if (entries.length > MAX_TAGS)
    throw badParameter(`The number of tags (${entries.length}) exceeds the maximum of ${MAX_TAGS}.`);
  for (const [k, v] of entries) {
    if (typeof v !== 'string') throw badParameter(`The value of tag '${k.slice(0, 64)}' must be a string.`);
    if (k.length === 0 || k.length > MAX_TAG_CHARS || v.length > MAX_TAG_CHARS) {
      throw badParameter(`Tag names and values must be 1-${MAX_TAG_CHARS} characters ('${k.slice(0, 64)}').`);
    }
  }
  return Object.fromEntries(entries) as Record<string, string>;
};

export const checkContentType = (ct: unknown): string | undefined => {
  if (ct === undefined || ct === null) return undefined;
  if (typeof ct !== 'string') throw badParameter('contentType must be a string.');
  if (ct.length > MAX_CONTENT_TYPE)
    throw badParameter(`contentType exceeds the maximum length of ${MAX_CONTENT_TYPE}.`);
  return ct;
};

export const epoch = (x: unknown, field: string): number | undefined => {
  if (x === undefined || x === null) return undefined;
  if (typeof x !== 'number' || !Number.isFinite(x))
    throw badParameter(`Attribute '${field}' must be an IntDate (epoch seconds).`);
  return Math.floor(x);
};

export const bool = (x: unknown, field: string): boolean | undefined => {
  if (x === undefined || x === null) return undefined;
  if (typeof x !== 'boolean') throw badParameter(`Attribute '${field}' must be a boolean.`);
  return x;
};

// --- operations ---

/** Pages with `maxresults` (1-25, default 25) and an absolute nextLink carrying an opaque $skiptoken. */
export const page = <T>(
  origin: string,
  req: SimRequest,
  all: T[],
  path: string,
): { value: T[]; nextLink: string | null } => {
  const raw = req.query.get('maxresults');
  const max = raw === null || raw === '' ? MAX_PAGE : Number(raw);
  if (!Number.isInteger(max) || max < 1 || max > MAX_PAGE) {
    throw badParameter(`Invalid maxresults: the value must be an integer between 1 and ${MAX_PAGE}.`);
  }
  let offset = 0;
  const token = req.query.get('$skiptoken');
  if (token) {
    try {
      const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as {
        o?: unknown;
        p?: unknown;
      };
      if (typeof parsed.o !== 'number' || parsed.p !== path) throw new Error('bad token');
      offset = parsed.o;
    } catch {
      throw badParameter('The $skiptoken is invalid.');
    }
  }
  const value = all.slice(offset, offset + max);
  const next = offset + max;
  let nextLink: string | null = null;
  if (next < all.length) {
    const skip = Buffer.from(JSON.stringify({ o: next, p: path })).toString('base64url');
    const apiVersion = encodeURIComponent(req.query.get('api-version') ?? '');
    nextLink = `${origin}${path}?api-version=${apiVersion}&$skiptoken=${skip}&maxresults=${max}`;
  }
  return { value, nextLink };
};
