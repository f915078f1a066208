// Fixed-window rate limiting behind one interface: in memory for a single
// instance, Redis (INCR + PEXPIRE) when several instances share the limits.
export interface RateLimitResult {
  allowed: boolean;
  remaining: number;
  retryAfterMs: number;
}

export interface RateLimiter {
  hit(key: string, limit: number, windowMs: number): Promise<RateLimitResult>;
  /** Takes one hit back (the window and its expiry stay): for an attempt that turned out not to count. */
  forgive(key: string): Promise<void>;
  reset(key: string): Promise<void>;
}

export class MemoryRateLimiter implements RateLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  constructor(private readonly now: () => number = Date.now) {}

  async hit(key: string, limit: number, windowMs: number): Promise<RateLimitResult> {
    const now = this.now();
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      if (this.windows.size > 50_000) this.sweep(now);
      w = { count: 0, resetAt: now + windowMs };
      this.windows.set(key, w);
    }
    w.count++;
    return { allowed: w.count <= limit, remaining: Math.max(0, limit - w.count), retryAfterMs: w.count <= limit ? 0 : w.resetAt - now };
  }

  async forgive(key: string): Promise<void> {
    const w = this.windows.get(key);
    if (w && w.count > 0 && w.resetAt > this.now()) w.count--;
  }

  async reset(key: string): Promise<void> {
    this.windows.delete(key);
  }

  private sweep(now: number) {
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k);
  }
}

interface RedisLike {
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  del(key: string): Promise<unknown>;
}

const HIT = `local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {c, redis.call('PTTL', KEYS[1])}`;

// DECR keeps the key's expiry; a window that already ended is left alone.
const FORGIVE = `local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c > 0 then redis.call('DECR', KEYS[1]) end
return c`;

export class RedisRateLimiter implements RateLimiter {
  constructor(private readonly redis: RedisLike, private readonly prefix = 'tally:rl:') {}

  async hit(key: string, limit: number, windowMs: number): Promise<RateLimitResult> {
    const [count, ttl] = (await this.redis.eval(HIT, 1, this.prefix + key, windowMs)) as [number, number];
    return { allowed: count <= limit, remaining: Math.max(0, limit - count), retryAfterMs: count <= limit ? 0 : Math.max(ttl, 0) };
  }

  async forgive(key: string): Promise<void> {
    await this.redis.eval(FORGIVE, 1, this.prefix + key);
  }

  async reset(key: string): Promise<void> {
    await this.redis.del(this.prefix + key);
  }
}
