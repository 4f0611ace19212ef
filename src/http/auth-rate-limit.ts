/**
 * Failed-authentication limiter: after `limit` failed attempts from one address within
 * `windowMs`, that address gets 429 until the window ends. Memory is bounded: at most
 * `maxAddresses` are tracked, the oldest window dropped first.
 */
export function authFailureLimiter(opts: { limit: number; windowMs: number; maxAddresses?: number; now?: () => number }) {
  const { limit, windowMs, maxAddresses = 10_000, now = Date.now } = opts;
  const windows = new Map<string, { start: number; failures: number }>();

  const current = (ip: string) => {
    const w = windows.get(ip);
    if (w && now() - w.start >= windowMs) {
      windows.delete(ip);
      return undefined;
    }
    return w;
  };

  return {
    /** Seconds until `ip` may try again, or 0 when it is not blocked. */
    retryAfter(ip: string): number {
      const w = current(ip);
      return w && w.failures >= limit ? Math.max(1, Math.ceil((w.start + windowMs - now()) / 1000)) : 0;
    },
    /** Counts a failure; returns true when this failure crossed the limit (the moment to audit). */
    fail(ip: string): boolean {
      let w = current(ip);
      if (!w) {
        if (windows.size >= maxAddresses) windows.delete(windows.keys().next().value!);
        w = { start: now(), failures: 0 };
        windows.set(ip, w);
      }
      w.failures++;
      return w.failures === limit;
    },
  };
}

export type AuthFailureLimiter = ReturnType<typeof authFailureLimiter>;
