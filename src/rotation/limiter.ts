// How many apps a run works on at once, adapted to Graph's budget (AIMD, as TCP does with a network it cannot
// see): the limit grows while Graph answers without throttling, first by one per finished app (slow start: it
// doubles every round) and, after the first 429, by one per round; a 429 halves it, once per Retry-After (the other
// calls that meet the same exhausted budget were sent before the first answer came and say nothing new). So a run
// rides whatever budget the tenant has, from a 5 % sweep (nothing throttles: the limit climbs to its maximum) to an
// emergency that meets the write budget every 150 s. The state machine is pure; AdaptiveLimiter runs it.

export interface AimdBounds {
  min: number;
  max: number;
}

export interface AimdState {
  limit: number;
  /** Slow start ends here (the first 429 sets it): above it the limit grows by one per round. */
  threshold: number;
  /** Apps finished since the last additive step. */
  credit: number;
  /** 429s before this time belong to the episode that already halved the limit. */
  quietUntil: number;
  /** Times the limit was halved. */
  shrinks: number;
  /** The highest limit reached. */
  peak: number;
}

const clamp = (n: number, b: AimdBounds) => Math.min(b.max, Math.max(b.min, Math.floor(n)));

export function initialAimd(initial: number, b: AimdBounds): AimdState {
  const limit = clamp(initial, b);
  return { limit, threshold: b.max, credit: 0, quietUntil: 0, shrinks: 0, peak: limit };
}

/** An app finished without Graph throttling it: grow. */
export function afterSuccess(s: AimdState, b: AimdBounds): AimdState {
  if (s.limit >= b.max) return s;
  if (s.limit < s.threshold) return grown(s, s.limit + 1);
  const credit = s.credit + 1;
  return credit >= s.limit ? grown(s, s.limit + 1) : { ...s, credit };
}

const grown = (s: AimdState, limit: number): AimdState => ({
  ...s,
  limit,
  credit: 0,
  peak: Math.max(s.peak, limit),
});

/** Graph answered 429 at `now`, asking to wait `retryAfterMs`: halve, once per episode. */
export function afterThrottle(s: AimdState, b: AimdBounds, now: number, retryAfterMs: number): AimdState {
  if (now < s.quietUntil) return s;
  const limit = clamp(s.limit / 2, b);
  return {
    ...s,
    limit,
    threshold: limit,
    credit: 0,
    quietUntil: now + Math.max(retryAfterMs, 1_000),
    shrinks: s.shrinks + 1,
  };
}

/** Runs work under the adaptive limit. Work already started is never cut short when the limit shrinks. */
export class AdaptiveLimiter {
  private state: AimdState;
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly bounds: AimdBounds,
    initial: number,
    private readonly now: () => number,
  ) {
    this.state = initialAimd(initial, bounds);
  }

  get snapshot(): Readonly<AimdState> {
    return this.state;
  }

  readonly run = async <T>(work: () => Promise<T>): Promise<T> => {
    // A waiter is counted in by the release that wakes it (so nothing can slip in between).
    if (this.inFlight >= this.state.limit || this.waiting.length)
      await new Promise<void>((go) => this.waiting.push(go));
    else this.inFlight++;
    const shrinksBefore = this.state.shrinks;
    try {
      return await work();
    } finally {
      this.inFlight--;
      // Work that saw the limit halved while it ran does not count as an answer without throttling.
      if (this.state.shrinks === shrinksBefore) this.state = afterSuccess(this.state, this.bounds);
      this.wake();
    }
  };

  throttled(retryAfterMs: number): void {
    this.state = afterThrottle(this.state, this.bounds, this.now(), retryAfterMs);
  }

  private wake(): void {
    while (this.inFlight < this.state.limit && this.waiting.length) {
      this.inFlight++;
      this.waiting.shift()!();
    }
  }
}
