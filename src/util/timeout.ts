// A deadline for one call. Not AbortSignal.timeout: its timer would keep the signal, and the request listening to
// it, alive for the full timeout after the call returned; over a large sweep that holds every request's state at
// once. Here the timer is cleared as soon as the call ends.

const expired = new WeakSet<object>();

/** Whether `err` ended a call that `withTimeout` aborted (a lost answer, not the service's refusal). */
export const isTimeout = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && expired.has(err);

export async function withTimeout<T>(ms: number, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`no answer within ${ms} ms`)), ms);
  try {
    return await call(controller.signal);
  } catch (err) {
    if (controller.signal.aborted && typeof err === 'object' && err !== null) expired.add(err);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
