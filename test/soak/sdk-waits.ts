// The Azure SDKs wait between their own retries (a 5xx, a 429 with Retry-After, an operation poll) with a plain
// setTimeout, on the system clock: the product's Clock cannot reach them. In the soak those waits move the cloud's
// clock forward instead, as the product's own waits do (product.ts fastClock): the SDK still retries exactly as
// often and after exactly as long in the cloud's time, so the product decides the same, and a year of injected 5xx
// and ACS throttling (Retry-After: 60) costs no real minutes.

/** Where the SDKs' retry and poll delays call setTimeout (each file only sleeps, nothing else). */
const SDK_DELAY_SITES = [
  /node_modules\/@typespec\/ts-http-runtime\/dist\/[^ ]*\/util\/helpers\.js/, // pipeline retry policies
  /node_modules\/@azure\/core-util\/dist\/[^ ]*\/delay\.js/, // delay(): pollers
  /node_modules\/@azure\/msal-node\/dist\/retry\/\w+RetryPolicy\.mjs/, // managed identity token retries
  /node_modules\/@azure\/storage-common\/dist\/[^ ]*\/utils\.common\.js/, // storage retry policy
];

export interface SdkWaits {
  /** Waits collapsed so far, and their total length (ms of the cloud's time). */
  count: number;
  totalMs: number;
  /** Puts the real setTimeout back. */
  restore(): void;
}

/**
 * Replaces setTimeout in this thread: a timer set from one of the SDKs' delay functions calls `advance(ms)` and fires
 * after `realMs` instead. Every other timer is left alone.
 */
export function collapseSdkWaits(advance: (ms: number) => void, realMs = 0): SdkWaits {
  const real = globalThis.setTimeout;
  const waits: SdkWaits = {
    count: 0,
    totalMs: 0,
    restore: () => void (globalThis.setTimeout = real),
  };
  const patched = ((handler: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    if (typeof ms === 'number' && ms > 0 && fromSdkDelay()) {
      waits.count++;
      waits.totalMs += ms;
      advance(ms);
      return real(handler, realMs, ...args);
    }
    return real(handler, ms, ...args);
  }) as typeof setTimeout;
  globalThis.setTimeout = Object.assign(patched, real);
  return waits;
}

/** Whether the caller of setTimeout is one of the SDKs' delay functions (raw call sites: no source-map lookups). */
function fromSdkDelay(): boolean {
  const { stackTraceLimit, prepareStackTrace } = Error;
  Error.stackTraceLimit = 3;
  Error.prepareStackTrace = (_, sites) => sites;
  const sites = new Error().stack as unknown as NodeJS.CallSite[];
  Error.stackTraceLimit = stackTraceLimit;
  Error.prepareStackTrace = prepareStackTrace;
  // Site 0 is fromSdkDelay, 1 the patched setTimeout, 2 its caller.
  const file = sites[2]?.getFileName() ?? '';
  return SDK_DELAY_SITES.some((site) => site.test(file));
}
