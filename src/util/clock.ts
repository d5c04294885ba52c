// The one source of time for the product. Production uses the system clock; tests and the simulated year (npm run
// soak) pass a clock they move forward by days in milliseconds. Nothing in src/ calls Date.now() or new Date()
// without an argument: it asks a Clock.

export interface Clock {
  /** The current time. */
  now(): Date;
  /** Waits `ms` of this clock's time (a test clock may advance instead of waiting). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** Milliseconds since the epoch on `clock`. */
export const nowMs = (clock: Clock): number => clock.now().getTime();
