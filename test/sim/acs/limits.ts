// ACS Email's documented limits and the rolling windows that enforce them.
// Source: MicrosoftDocs/azure-docs articles/communication-services/concepts/service-limits.md, "Rate Limits for
// Email" and "Size limits for email": per subscription, custom domains send 30/min and 100/hour and read status
// 60/min and 200/hour (raisable through support); Azure-managed domains send 5/min and 10/hour and read status
// 10/min and 20/hour (not raisable); at most 50 recipients (To, Cc and Bcc together) and 10 MB per request.

export type AcsDomainKind = 'azure-managed' | 'custom';

export interface AcsRateLimits {
  sendPerMinute?: number;
  sendPerHour?: number;
  statusPerMinute?: number;
  statusPerHour?: number;
}

export const ACS_DOCUMENTED_LIMITS: Record<AcsDomainKind, Required<AcsRateLimits>> = {
  'azure-managed': { sendPerMinute: 5, sendPerHour: 10, statusPerMinute: 10, statusPerHour: 20 },
  custom: { sendPerMinute: 30, sendPerHour: 100, statusPerMinute: 60, statusPerHour: 200 },
};

export const MAX_RECIPIENTS = 50;
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Times of admitted requests, for a per-minute and a per-hour limit. */
export class RateWindow {
  private times: number[] = [];

  /**
   * Seconds until both windows have room (0: the request may go now) and which limit was hit.
   * Only admitted requests count, so a client that keeps retrying is not punished for its 429s.
   */
  check(now: number, perMinute?: number, perHour?: number): { wait: number; hit?: 'minute' | 'hour' } {
    this.times = this.times.filter((t) => t > now - HOUR);
    const wait = (limit: number | undefined, windowMs: number): number => {
      if (limit === undefined) return 0;
      const inWindow = this.times.filter((t) => t > now - windowMs);
      if (inWindow.length < limit) return 0;
      // The window has room once the oldest request that keeps it full falls out of it.
      const freeAt = inWindow[inWindow.length - limit]! + windowMs;
      return Math.max(1, Math.ceil((freeAt - now) / 1000));
    };
    const minute = wait(perMinute, MINUTE);
    const hour = wait(perHour, HOUR);
    if (hour > 0) return { wait: Math.max(minute, hour), hit: 'hour' };
    if (minute > 0) return { wait: minute, hit: 'minute' };
    return { wait: 0 };
  }

  record(now: number): void {
    this.times.push(now);
  }

  clear(): void {
    this.times = [];
  }
}
