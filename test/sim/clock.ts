// The one clock of a simulated cloud. Every time-dependent behaviour of the simulators reads it: token
// iat/nbf/exp and their checks, credential validity and replication delay, Graph throttling windows, Key Vault
// exp/nbf/created/updated, ACS rate windows and send durations. By default it follows real time; a test moves the
// whole cloud forward with `advance(ms)` (days in milliseconds) or pins it with `set(date)` / `frozen: true`.
// It satisfies the product's Clock (src/util/clock.ts), so one instance can drive both sides.
import type { Clock } from '../../src/util/clock.js';

export interface SimClockOptions {
  /** The simulated time at creation (default: now). */
  start?: Date | number;
  /** Time moves only through advance()/set() (default false: it follows real time, shifted). */
  frozen?: boolean;
}

interface Sleeper {
  until: number;
  resolve: () => void;
}

export class SimClock implements Clock {
  /** Simulated minus real time, when following real time; the pinned time when frozen. */
  private offsetMs: number;
  private pinnedMs: number;
  readonly frozen: boolean;
  private sleepers: Sleeper[] = [];

  constructor(opts: SimClockOptions = {}) {
    const start = opts.start === undefined ? Date.now() : new Date(opts.start).getTime();
    this.frozen = opts.frozen ?? false;
    this.offsetMs = start - Date.now();
    this.pinnedMs = start;
  }

  /** Milliseconds since the epoch on this clock. */
  nowMs(): number {
    return this.frozen ? this.pinnedMs : Date.now() + this.offsetMs;
  }

  now(): Date {
    return new Date(this.nowMs());
  }

  /** Seconds since the epoch, rounded down (JWT and Key Vault attribute format). */
  nowSeconds(): number {
    return Math.floor(this.nowMs() / 1000);
  }

  /** How far this clock is ahead of real time (negative when behind). */
  skewMs(): number {
    return this.nowMs() - Date.now();
  }

  /** Moves the cloud forward (never backward: expiry and windows assume time only grows). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new Error(`SimClock.advance needs a non-negative duration, got ${ms}.`);
    this.offsetMs += ms;
    this.pinnedMs += ms;
    this.wake();
  }

  /** Moves the cloud to a given time (forward only). */
  set(to: Date | number): void {
    this.advance(Math.max(0, new Date(to).getTime() - this.nowMs()));
  }

  /**
   * Waits `ms` of simulated time: a real timer while the clock follows real time (advance() cuts it short),
   * and only advance()/set() when frozen.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      const sleeper: Sleeper = { until: this.nowMs() + ms, resolve: () => done() };
      const timer = this.frozen ? undefined : setTimeout(() => done(), ms);
      const onAbort = () => {
        cleanup();
        reject(signal!.reason as Error);
      };
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
      };
      const done = () => {
        cleanup();
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.sleepers.push(sleeper);
      if (ms <= 0) done();
    });
  }

  private wake(): void {
    const now = this.nowMs();
    for (const s of this.sleepers.filter((x) => x.until <= now)) s.resolve();
  }
}
