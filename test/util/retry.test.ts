// The one retry helper and Retry-After parser (src/util/retry.ts), on a clock that moves instead of waiting.
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/util/clock.js';
import { headerGetter, parseRetryAfter, retryAfterOf, withRetry } from '../../src/util/retry.js';

function testClock(start = Date.parse('2026-12-01T00:00:00Z')) {
  let now = start;
  const slept: number[] = [];
  const clock: Clock = {
    now: () => new Date(now),
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  };
  return { clock, slept, elapsed: () => now - start };
}

const httpError = (status: number, headers: Record<string, string> = {}) =>
  Object.assign(new Error(`status ${status}`), { statusCode: status, headers: new Headers(headers) });

describe('parseRetryAfter', () => {
  const now = new Date('2026-12-01T00:00:00Z');
  it.each<[Record<string, string>, number | undefined]>([
    [{}, undefined],
    [{ 'retry-after': '3' }, 3000],
    [{ 'retry-after': '0' }, 0],
    [{ 'retry-after': '1.5' }, 1500],
    [{ 'retry-after': 'Tue, 01 Dec 2026 00:00:10 GMT' }, 10_000],
    [{ 'retry-after': 'Mon, 30 Nov 2026 00:00:00 GMT' }, 0], // in the past
    [{ 'retry-after': 'soon' }, undefined],
    [{ 'retry-after-ms': '250', 'retry-after': '9' }, 250], // the precise one wins
    [{ 'x-ms-retry-after-ms': '40' }, 40],
  ])('%j → %j', (headers, ms) => {
    expect(parseRetryAfter(headerGetter(new Headers(headers))!, now)).toBe(ms);
    expect(parseRetryAfter(headerGetter(headers)!, now)).toBe(ms); // plain records ($batch) alike
  });
  it('reads an SDK error’s headers, wherever the SDK keeps them', () => {
    expect(retryAfterOf(httpError(429, { 'Retry-After': '2' }), now)).toBe(2000);
    expect(retryAfterOf({ response: { headers: new Headers({ 'retry-after': '1' }) } }, now)).toBe(1000);
    expect(retryAfterOf(new Error('no headers'), now)).toBeUndefined();
  });
});

describe('withRetry', () => {
  it('retries what is retryable, waiting Retry-After on the clock, and returns the result', async () => {
    const t = testClock();
    let calls = 0;
    const result = await withRetry(
      async () => {
        if (++calls < 3) throw httpError(429, { 'retry-after': '30' });
        return 'done';
      },
      { attempts: 5, retryable: () => true, clock: t.clock },
    );
    expect(result).toBe('done');
    expect(t.slept).toEqual([30_000, 30_000]);
  });

  it('throws the last error itself once attempts are spent, or at once when not retryable', async () => {
    const t = testClock();
    const err = httpError(500);
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw err;
        },
        { attempts: 3, retryable: () => true, clock: t.clock, backoffMs: () => 10 },
      ),
    ).rejects.toBe(err);
    expect(calls).toBe(3);
    calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw err;
        },
        { attempts: 3, retryable: () => false, clock: t.clock },
      ),
    ).rejects.toBe(err);
    expect(calls).toBe(1);
  });

  it('never waits past the deadline: the last attempt starts at it', async () => {
    const t = testClock();
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new Error('not yet');
        },
        {
          attempts: Infinity,
          deadline: new Date(t.clock.now().getTime() + 10_000),
          retryable: () => true,
          clock: t.clock,
          backoffMs: () => 4_000,
        },
      ),
    ).rejects.toThrow('not yet');
    expect(t.slept).toEqual([4_000, 4_000, 2_000]);
    expect(calls).toBe(4);
    expect(t.elapsed()).toBe(10_000);
  });
});
