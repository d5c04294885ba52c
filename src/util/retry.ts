// The one retry helper (p-retry underneath) and the one Retry-After parser. Every adapter that tries a call again
// (Graph, the secret proof, blob leases, the run table, ACS mail, Key Vault timeouts) goes through `withRetry`, and
// waits on the injected Clock so tests can move time instead of waiting.
import pRetry from 'p-retry';
import { systemClock, type Clock } from './clock.js';

type HeaderGetter = (name: string) => string | null | undefined;

// Azure services say how long to wait in milliseconds (ACS, Key Vault) or in seconds / an HTTP date (Retry-After).
const MS_HEADERS = ['retry-after-ms', 'x-ms-retry-after-ms'] as const;

/** Milliseconds a response asks to wait before the next request; undefined when it does not say. */
export function parseRetryAfter(get: HeaderGetter, now: Date): number | undefined {
  for (const name of MS_HEADERS) {
    const ms = Number(get(name) ?? undefined);
    if (get(name) && Number.isFinite(ms)) return Math.max(0, ms);
  }
  const raw = get('retry-after')?.trim();
  if (!raw) return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw) * 1000;
  const at = Date.parse(raw);
  return Number.isFinite(at) ? Math.max(0, at - now.getTime()) : undefined;
}

/** The header names `parseRetryAfter` reads (to strip them from a response). */
export const RETRY_AFTER_HEADERS = [...MS_HEADERS, 'retry-after'] as const;

/** Headers as the SDKs expose them: a Headers-like object with get(), or a plain record (Graph $batch). */
export function headerGetter(headers: unknown): HeaderGetter | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const h = headers as { get?: unknown } & Record<string, unknown>;
  if (typeof h.get === 'function') return (n) => (h.get as (n: string) => string | null | undefined)(n);
  const lower = new Map(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
  return (n) => {
    const v = lower.get(n.toLowerCase());
    return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
  };
}

/** Retry-After carried by an SDK error (RestError.response.headers, GraphError.headers), in milliseconds. */
export function retryAfterOf(err: unknown, now: Date): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { headers?: unknown; response?: { headers?: unknown } };
  const get = headerGetter(e.headers) ?? headerGetter(e.response?.headers);
  return get ? parseRetryAfter(get, now) : undefined;
}

export interface RetryPolicy {
  /** Attempts in all, the first included (Infinity: until `deadline`). */
  attempts: number;
  /** Whether another attempt may succeed after this error. */
  retryable: (err: unknown) => boolean;
  /** Wait before attempt `attempt + 1` when the error names none (default: 200 ms doubling to 5 s, jittered). */
  backoffMs?: (attempt: number) => number;
  /** The wait the service asked for (default: the error's Retry-After). */
  waitMs?: (err: unknown) => number | undefined;
  /** No attempt starts after this time: the last error is thrown instead. */
  deadline?: Date;
  clock?: Clock;
  signal?: AbortSignal;
  /** Told before each wait (logging, a shared pause). */
  onRetry?: (err: unknown, attempt: number, waitMs: number) => void;
}

export const exponentialBackoff =
  (firstMs: number, maxMs: number, jitter = true) =>
  (attempt: number): number =>
    Math.min(firstMs * 2 ** (attempt - 1), maxMs) * (jitter ? 0.5 + Math.random() : 1);

/**
 * Calls `fn` until it succeeds, the error is not retryable, the attempts are spent or the deadline is reached; then
 * throws the last error as it came (never a wrapper). p-retry counts attempts and stops; the waits are ours, on the
 * Clock, so Retry-After and deadlines are honoured in the clock's time.
 */
export function withRetry<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy): Promise<T> {
  const clock = policy.clock ?? systemClock;
  const backoff = policy.backoffMs ?? exponentialBackoff(200, 5_000);
  const waitFor = policy.waitMs ?? ((err: unknown) => retryAfterOf(err, clock.now()));
  return pRetry(fn, {
    retries: policy.attempts - 1,
    minTimeout: 0,
    maxTimeout: 0,
    signal: policy.signal,
    // p-retry passes non-Error rejections on as TypeErrors it never retries; every SDK error is an Error.
    shouldRetry: async ({ error, attemptNumber }) => {
      if (!policy.retryable(error)) return false;
      let wait = waitFor(error) ?? backoff(attemptNumber);
      if (policy.deadline) {
        const left = policy.deadline.getTime() - clock.now().getTime();
        if (left <= 0) return false;
        wait = Math.min(wait, left);
      }
      policy.onRetry?.(error, attemptNumber, wait);
      if (wait > 0) await clock.sleep(wait, policy.signal);
      return true;
    },
  });
}
