// Identifier and duration constants shared by every layer (one definition each).

/** A GUID as Entra writes appIds, object ids, keyIds and tenant ids (any case). */
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isGuid = (s: unknown): s is string => typeof s === 'string' && GUID.test(s);

/** One day in milliseconds. */
export const DAY_MS = 86_400_000;
