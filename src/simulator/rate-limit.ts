// Method's payment-creation tier (method.md §1.5): N per rolling 60 s per API key; exceeding it
// blocks the key for 60 s. In memory: a restart forgets it, as a real limiter's window would expire.

export interface RateDecision {
  allowed: boolean;
  retryAfterSeconds: number;
}

export class RollingRateLimiter {
  private readonly windows = new Map<string, { times: number[]; head: number; blockedUntil: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
    private readonly blockMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one attempt; 0 as the limit turns the limiter off. */
  take(key: string): RateDecision {
    if (this.limit <= 0) return { allowed: true, retryAfterSeconds: 0 };
    const now = this.now();
    let w = this.windows.get(key);
    if (!w) {
      w = { times: [], head: 0, blockedUntil: 0 };
      this.windows.set(key, w);
    }
    if (now < w.blockedUntil)
      return { allowed: false, retryAfterSeconds: Math.ceil((w.blockedUntil - now) / 1000) };
    while (w.head < w.times.length && w.times[w.head] <= now - this.windowMs) w.head++;
    if (w.head > 1024) {
      w.times = w.times.slice(w.head);
      w.head = 0;
    }
    if (w.times.length - w.head >= this.limit) {
      w.blockedUntil = now + this.blockMs;
      return { allowed: false, retryAfterSeconds: Math.ceil(this.blockMs / 1000) };
    }
    w.times.push(now);
    return { allowed: true, retryAfterSeconds: 0 };
  }
}
