// The adaptive limiter as a pure state machine (AIMD), its runner, and the write window the Graph budget learns
// from a 429: properties over random sequences of answers, and the cases that matter written out.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  emptyWriteWindow,
  heldBack,
  learnFromWrite429,
  nextWriteAt,
  recordWrite,
} from '../../src/azure/graph-budget.js';
import {
  AdaptiveLimiter,
  afterSuccess,
  afterThrottle,
  initialAimd,
  type AimdState,
} from '../../src/rotation/limiter.js';

const bounds = { min: 1, max: 64 };

describe('AIMD state machine', () => {
  it('doubles per round until the first 429 (slow start), then grows by one per round', () => {
    let s = initialAimd(4, bounds);
    for (let i = 0; i < 4; i++) s = afterSuccess(s, bounds);
    expect(s.limit).toBe(8);
    s = afterThrottle(s, bounds, 0, 2_000);
    expect(s).toMatchObject({ limit: 4, shrinks: 1 });
    for (let i = 0; i < 3; i++) s = afterSuccess(s, bounds);
    expect(s.limit).toBe(4);
    s = afterSuccess(s, bounds);
    expect(s.limit).toBe(5);
  });

  it('halves once per Retry-After episode: the other 429s of the same moment say nothing new', () => {
    let s = initialAimd(32, bounds);
    s = afterThrottle(s, bounds, 1_000, 5_000);
    s = afterThrottle(s, bounds, 1_500, 5_000);
    s = afterThrottle(s, bounds, 5_999, 5_000);
    expect(s).toMatchObject({ limit: 16, shrinks: 1 });
    s = afterThrottle(s, bounds, 6_000, 1_000);
    expect(s).toMatchObject({ limit: 8, shrinks: 2 });
  });

  it('stays within its bounds and peak is the highest limit, whatever Graph answers', () => {
    const event = fc.oneof(
      fc.constant<'ok'>('ok'),
      fc.record({ at: fc.nat(100_000), retryAfterMs: fc.nat(150_000) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: -5, max: 500 }),
        fc.array(event, { maxLength: 300 }),
        (initial, events) => {
          let s: AimdState = initialAimd(initial, bounds);
          let highest = s.limit;
          for (const e of events) {
            const before = s.limit;
            s = e === 'ok' ? afterSuccess(s, bounds) : afterThrottle(s, bounds, e.at, e.retryAfterMs);
            expect(s.limit).toBeGreaterThanOrEqual(bounds.min);
            expect(s.limit).toBeLessThanOrEqual(bounds.max);
            if (e === 'ok') expect(s.limit - before).toBeLessThanOrEqual(1);
            else expect(s.limit === before || s.limit === Math.max(1, Math.floor(before / 2))).toBe(true);
            highest = Math.max(highest, s.limit);
          }
          expect(s.peak).toBe(highest);
        },
      ),
    );
  });
});

describe('AdaptiveLimiter', () => {
  it('runs all the work, throttled or not, and ends with nothing in flight', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.boolean(), { maxLength: 60 }),
        async (initial, throttles) => {
          const limiter = new AdaptiveLimiter({ min: 1, max: 16 }, initial, () => 0);
          let inFlight = 0;
          let done = 0;
          await Promise.all(
            throttles.map((throttle) =>
              limiter.run(async () => {
                inFlight++;
                await new Promise((r) => setImmediate(r));
                if (throttle) limiter.throttled(1_000);
                inFlight--;
                done++;
              }),
            ),
          );
          expect(done).toBe(throttles.length);
          expect(inFlight).toBe(0);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('admits new work only while fewer than the limit are in flight', async () => {
    const limiter = new AdaptiveLimiter({ min: 1, max: 4 }, 2, () => 0);
    let inFlight = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        limiter.run(async () => {
          most = Math.max(most, ++inFlight);
          await new Promise((r) => setImmediate(r));
          inFlight--;
        }),
      ),
    );
    expect(most).toBeLessThanOrEqual(4);
    expect(limiter.snapshot.peak).toBe(4);
  });
});

describe('the write window learned from a 429', () => {
  it('writes freely until a 429, then only as the writes it saw admitted leave the window', () => {
    let w = emptyWriteWindow();
    for (let t = 0; t < 3; t++) w = recordWrite(w, t * 1_000);
    expect(nextWriteAt(w, 3_000)).toBe(3_000);
    w = learnFromWrite429(w, 3_000, 150_000, 147_000);
    expect(w.learned).toMatchObject({ limit: 3, windowMs: 150_000 });
    expect(nextWriteAt(w, 3_000)).toBe(150_000);
    expect(nextWriteAt(w, 150_000)).toBe(150_000);
  });

  it('counts writes in flight as taking slots', () => {
    let w = recordWrite(recordWrite(emptyWriteWindow(), 0), 10);
    w = learnFromWrite429(w, 20, 150_000, 150_000);
    w = { ...w, admitted: [0], inFlight: 1 };
    expect(nextWriteAt(w, 30)).toBe(150_000);
  });

  it('takes a shorter window when Retry-After says the oldest write leaves sooner', () => {
    let w = emptyWriteWindow();
    for (let t = 0; t < 10; t++) w = recordWrite(w, 1_000 + t * 100);
    w = learnFromWrite429(w, 2_000, 150_000, 1_000);
    expect(w.learned).toMatchObject({ limit: 10, windowMs: 2_000 });
    expect(nextWriteAt(w, 2_000)).toBe(3_000);
  });

  it('forgets the lesson two windows after it last held a write back (other callers may have stopped)', () => {
    let w = recordWrite(emptyWriteWindow(), 0);
    w = learnFromWrite429(w, 0, 150_000, 150_000);
    expect(nextWriteAt(w, 1)).toBe(150_000);
    expect(nextWriteAt(w, 300_001)).toBe(300_001);
    // Still holding writes back at 250 s (an emergency's later boundary): kept, so that boundary costs no 429 burst.
    w = recordWrite(w, 250_000);
    expect(nextWriteAt(w, 320_000)).toBe(320_000);
    expect(nextWriteAt(heldBack(w, 250_000), 320_000)).toBe(400_000);
  });

  it('never lets more writes start in a window than it learned it holds (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.nat(5_000), { maxLength: 80 }),
        (limit, gaps) => {
          const windowMs = 10_000;
          let w = emptyWriteWindow();
          for (let i = 0; i < limit; i++) w = recordWrite(w, i);
          w = learnFromWrite429(w, limit, windowMs, windowMs);
          let now = limit;
          const starts: number[] = [];
          for (const gap of gaps) {
            now = Math.max(now + gap, nextWriteAt(w, now + gap));
            if (now - w.learned!.at > 2 * windowMs) break;
            starts.push(now);
            w = recordWrite(w, now);
          }
          const all = [...Array.from({ length: limit }, (_, i) => i), ...starts];
          for (const t of all)
            expect(all.filter((u) => u >= t && u < t + windowMs).length).toBeLessThanOrEqual(limit);
        },
      ),
    );
  });
});
